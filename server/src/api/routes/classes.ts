import {
  classCreateSchema,
  classDeletedSchema,
  classListSchema,
  classParamsSchema,
  classPatchBodySchema,
  deviceClassSchema,
  profileListSchema,
} from '@edgefleet/shared';
import { BUILTIN_CLASS_PROFILES } from '../../plan/profiles/builtin.js';
import type { ApiDeps } from '../deps.js';
import { jsonRoute, type AnyRoute } from '../route.js';

/** Device classes (budgets, speed and power models) and the built-in profiles; thin over server/src/plan/classes.ts. */
export function classRoutes(deps: ApiDeps): AnyRoute[] {
  const { classes } = deps;
  return [
    jsonRoute({
      method: 'GET',
      url: '/v1/classes',
      tag: 'classes',
      scope: 'read',
      summary:
        'Configured device classes with budgets and profiles, and class names devices announced that have no ' +
        'profile yet.',
      response: classListSchema,
      handler: async () => ({ classes: await classes.list(), unconfigured: await classes.listUnconfigured() }),
    }),
    jsonRoute({
      method: 'POST',
      url: '/v1/classes',
      tag: 'classes',
      scope: 'admin',
      status: 201,
      summary: 'Create a class from a full document ({class}) or from a built-in profile ({profile, name?, patch?}).',
      body: classCreateSchema,
      response: deviceClassSchema,
      errors: ['EF_ERR_CLASS_INVALID', 'EF_ERR_CLASS_EXISTS', 'EF_ERR_CLASS_NOT_FOUND'],
      handler: ({ body }) =>
        'class' in body ? classes.create(body.class) : classes.createFromProfile(body.profile, body.name, body.patch),
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/classes/:name',
      tag: 'classes',
      scope: 'read',
      summary: 'One device class: capabilities, speed and power models, budgets, version.',
      params: classParamsSchema,
      response: deviceClassSchema,
      errors: ['EF_ERR_CLASS_NOT_FOUND'],
      handler: ({ params }) => classes.get(params.name),
    }),
    jsonRoute({
      method: 'PATCH',
      url: '/v1/classes/:name',
      tag: 'classes',
      scope: 'admin',
      summary:
        'Update a class (budgets replace as a whole, other parts merge per field); bumps its version and ' +
        'invalidates its plans.',
      params: classParamsSchema,
      body: classPatchBodySchema,
      response: deviceClassSchema,
      errors: ['EF_ERR_CLASS_INVALID', 'EF_ERR_CLASS_NOT_FOUND'],
      handler: ({ params, body }) => classes.update(params.name, body),
    }),
    jsonRoute({
      method: 'DELETE',
      url: '/v1/classes/:name',
      tag: 'classes',
      scope: 'admin',
      summary: 'Delete a class and its plans; refused while devices belong to it.',
      params: classParamsSchema,
      response: classDeletedSchema,
      errors: ['EF_ERR_CLASS_INVALID', 'EF_ERR_CLASS_NOT_FOUND'],
      handler: async ({ params }) => {
        await classes.remove(params.name);
        return { name: params.name, deleted: true as const };
      },
    }),
    jsonRoute({
      method: 'GET',
      url: '/v1/profiles',
      tag: 'classes',
      scope: 'read',
      summary: 'Built-in class profiles (figures with their sources) a class can be created from.',
      response: profileListSchema,
      handler: () => ({ profiles: [...BUILTIN_CLASS_PROFILES.values()] }),
    }),
  ];
}
