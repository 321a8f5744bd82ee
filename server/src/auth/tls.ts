import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { EdgefleetError, asError } from '@edgefleet/shared';

/** A certificate and key read from PEM files, checked to form a usable pair. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads `tls.certFile`/`tls.keyFile`; throws EF_ERR_TLS_CONFIG naming the file and what to fix. */
export function loadTlsMaterial(certFile: string, keyFile: string): TlsMaterial {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err: unknown) {
      throw new EdgefleetError(
        'EF_ERR_TLS_CONFIG',
        `cannot read TLS ${what} ${path}: ${asError(err).message}; check ` +
          `tls.${what === 'certificate' ? 'certFile' : 'keyFile'}`,
        { path },
        { cause: err },
      );
    }
  };
  const material = { cert: read(certFile, 'certificate'), key: read(keyFile, 'key') };
  try {
    // Fails on malformed PEM and on a key that does not belong to the certificate.
    createSecureContext(material);
  } catch (err: unknown) {
    throw new EdgefleetError(
      'EF_ERR_TLS_CONFIG',
      `TLS certificate ${certFile} and key ${keyFile} cannot be used together: ${asError(err).message}`,
      { certFile, keyFile },
      { cause: err },
    );
  }
  return material;
}
