/**
 * Seeded synthetic speech-like audio for models that listen (voice activity detectors, wake-word
 * front ends): PCM in [-1, 1] at a given sample rate, alternating "talk spurts" and pauses. A talk
 * spurt is a sequence of syllables (80–300 ms): a glottal-like harmonic series on a drifting
 * fundamental (90–240 Hz), its harmonics weighted by three formant resonances that move from
 * syllable to syllable, under a rise-and-fall envelope, with some breath noise; pauses hold quiet
 * noise and, now and then, a non-speech burst (a click or a hiss). It is not speech — it is the
 * documented input format (16 kHz mono float PCM) filled with the spectral and temporal structure
 * detectors key on, so their outputs vary across samples instead of sitting at one value, as they
 * do on uniform noise. No network, no recordings: everything comes from `prng.ts`.
 */
import { createRng, type Rng } from './prng.js';

/** Options of {@link syntheticSpeech}. */
export interface SyntheticSpeechOptions {
  /** Sample rate in Hz; default 16000. */
  readonly sampleRate?: number;
  /** Seed; different seeds give different audio. Default 1. */
  readonly seed?: number;
  /** Peak amplitude of talk spurts; default 0.5. */
  readonly level?: number;
}

/** Formant centre frequencies (Hz) of a few vowel-like sounds, as rough adult averages. */
const VOWELS: ReadonlyArray<readonly [number, number, number]> = [
  [730, 1090, 2440],
  [270, 2290, 3010],
  [530, 1840, 2480],
  [570, 840, 2410],
  [300, 870, 2240],
  [660, 1720, 2410],
];

function formantGain(f: number, formants: readonly number[]): number {
  let g = 0;
  for (const [i, fc] of formants.entries()) {
    const bw = 80 + 40 * i;
    g += 1 / (1 + ((f - fc) / bw) ** 2);
  }
  return g;
}

function syllable(out: Float32Array, at: number, len: number, rate: number, rng: Rng, level: number): void {
  const vowel = VOWELS[rng.int(VOWELS.length)] ?? [500, 1500, 2500];
  const f0Start = 90 + 150 * rng.next();
  const f0End = f0Start * (0.8 + 0.4 * rng.next());
  const gains: number[] = [];
  for (let h = 1; h * f0Start < Math.min(4000, rate / 2); h++) gains.push(formantGain(h * f0Start, vowel) / h ** 0.5);
  const norm = gains.reduce((a, b) => a + b, 0) || 1;
  let phase = 0;
  for (let i = 0; i < len && at + i < out.length; i++) {
    const t = i / len;
    const f0 = f0Start + (f0End - f0Start) * t;
    phase += (2 * Math.PI * f0) / rate;
    let v = 0;
    for (let h = 0; h < gains.length; h++) v += (gains[h] ?? 0) * Math.sin((h + 1) * phase);
    const env = Math.sin(Math.PI * t) ** 0.6;
    const breath = 0.04 * (rng.next() * 2 - 1);
    out[at + i] = (out[at + i] ?? 0) + level * env * (v / norm + breath);
  }
}

function pause(out: Float32Array, at: number, len: number, rng: Rng): void {
  const floor = 0.002 + 0.01 * rng.next();
  const burst = rng.next() < 0.3 ? rng.int(Math.max(1, len)) : -1;
  const burstLen = 200 + rng.int(1200);
  for (let i = 0; i < len && at + i < out.length; i++) {
    const inBurst = burst >= 0 && i >= burst && i < burst + burstLen;
    out[at + i] = (out[at + i] ?? 0) + (inBurst ? 0.15 : floor) * (rng.next() * 2 - 1);
  }
}

/** `samples` of seeded speech-like audio (talk spurts and pauses), float PCM in [-1, 1]. */
export function syntheticSpeech(samples: number, opts: SyntheticSpeechOptions = {}): Float32Array {
  const rate = opts.sampleRate ?? 16000;
  const level = opts.level ?? 0.5;
  const rng = createRng(opts.seed ?? 1);
  const out = new Float32Array(samples);
  let at = 0;
  let talking = rng.next() < 0.5;
  while (at < samples) {
    const len = Math.floor(rate * (talking ? 0.6 + 1.2 * rng.next() : 0.2 + 0.8 * rng.next()));
    if (talking) {
      for (let s = at; s < at + len; ) {
        const syl = Math.floor(rate * (0.08 + 0.22 * rng.next()));
        syllable(out, s, syl, rate, rng, level * (0.5 + 0.5 * rng.next()));
        s += syl + Math.floor(rate * 0.02 * rng.next());
      }
    } else pause(out, at, len, rng);
    at += len;
    talking = !talking;
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.max(-1, Math.min(1, out[i] ?? 0));
  return out;
}
