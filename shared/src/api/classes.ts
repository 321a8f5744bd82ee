import * as z from 'zod';
import { deviceClassInputSchema, deviceClassPatchSchema, deviceClassSchema } from '../budgets.js';
import { classNameSchema } from '../messages/common.js';
import { serverTimeSchema } from './common.js';

/** `{name}` path parameter of the class routes. */
export const classParamsSchema = z.strictObject({ name: classNameSchema });

/** `GET /v1/classes`: configured classes, and class names devices announced that have no profile yet. */
export const classListSchema = z.object({
  classes: z.array(deviceClassSchema),
  unconfigured: z.array(z.object({ name: z.string(), configured: z.literal(false), createdAt: serverTimeSchema })),
});

/**
 * `POST /v1/classes`: either a full class document (`class`), or a built-in `profile` with an
 * optional new `name` and a `patch` of budgets or fields. The patch applies before validation.
 */
export const classCreateSchema = z.union([
  z.strictObject({ class: deviceClassInputSchema }),
  z.strictObject({
    profile: z.string().min(1).max(64),
    name: classNameSchema.optional(),
    patch: deviceClassPatchSchema.optional(),
  }),
]);

/** `PATCH /v1/classes/{name}`: the class patch document (budgets replace as a whole). */
export const classPatchBodySchema = deviceClassPatchSchema;

/** `DELETE /v1/classes/{name}` answer. */
export const classDeletedSchema = z.object({ name: classNameSchema, deleted: z.literal(true) });

/** `GET /v1/profiles`: the built-in class profiles a class can start from. */
export const profileListSchema = z.object({ profiles: z.array(deviceClassInputSchema) });
