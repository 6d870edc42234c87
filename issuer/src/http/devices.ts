import { type ErrorShape, MAX_DEVICE_BATCH, type Result, TesseraError, GUARD_ERRORS } from '@tessera/protocol';
import { type HttpApi, jsonBody, validationError } from '@tessera/runtime/http';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import { z } from 'zod';
import type { DeviceCaller, DeviceLifecycle, PendingDeviceOperation } from '../devices/lifecycle.js';
import { DeviceBatch, DeviceBatchRequest, DeviceCommission, Device, DeviceIdParam, DeviceListQuery } from './api.js';
import type { Principal } from './auth.js';

/** A registration body of MAX_DEVICE_BATCH devices is larger than the API's default body limit. */
export const DEVICE_BATCH_MAX_BODY_BYTES = MAX_DEVICE_BATCH * 1024;
export const DEVICE_BATCH_PATH = '/devices/batches';

export interface DeviceRoutesDeps {
  /** Absent when the issuer runs without an outbox or a DeviceRegistry: every route answers ERR_UNAVAILABLE. */
  devices?: DeviceLifecycle;
  /** The issuer's API: each route is declared there with its schemas. */
  api: HttpApi;
  /** The credential core's guard for an issuer resource (`/devices/:id`, relative to `/issuer`). */
  guard(resource: string): RequestHandler[];
  send<T>(res: Response, r: Result<T>, status?: number): void;
  sendError(res: Response, e: ErrorShape): void;
}

const LIFECYCLE = [
  'ERR_DEVICE_ID_INVALID',
  'ERR_DEVICE_UNKNOWN',
  'ERR_DEVICE_STATE',
  'ERR_DEVICE_EXISTS',
  'ERR_DEVICE_NOT_OWNER',
  'ERR_CHAIN_TX_FAILED',
  'ERR_UNAVAILABLE',
] as const;

/**
 * The device lifecycle endpoints: a manufacturer registers a batch and receives each secret once; an
 * owner commissions; an operator suspends, resumes and revokes; an owner or operator decommissions. The lifecycle
 * validates the bodies with the schemas the document shows (DeviceBatchRequest, DeviceCommission).
 */
export function deviceRoutes(d: DeviceRoutesDeps): Router {
  const router = Router();
  const { api, guard, send } = d;

  /** The caller as the lifecycle sees it: its DID, roles, and the device DIDs of its DeviceOwnerCredentials. */
  const callerOf = async (res: Response): Promise<DeviceCaller> => {
    // The guard checked the token's credentials are live (status) and meet this route's policy.
    const p = res.locals.principal as Principal;
    return { did: p.did, roles: p.roles, ownedDeviceDids: p.ownedDeviceDids };
  };
  /**
   * The caller's request id (`Idempotency-Key`): repeating a registration or commissioning with it returns the result
   * of the first one, finishing it if a crash or an outage interrupted it, instead of doing it twice.
   */
  const requestIdOf = (req: Request): string | undefined => {
    const k = req.get('idempotency-key');
    return k && /^[\x21-\x7e]{1,128}$/.test(k) ? k : undefined;
  };
  /** 202 with the request id to repeat while the chain write is pending; the result otherwise. */
  const sendOperation = <T extends object>(res: Response, r: Result<T | PendingDeviceOperation>, status: number) => {
    if (r.ok && 'pending' in r.value) {
      res.status(202).json(r.value);
      return;
    }
    send(res, r, status);
  };
  const lifecycle = (res: Response): DeviceLifecycle | undefined => {
    if (!d.devices) {
      d.sendError(res, { code: 'ERR_UNAVAILABLE', message: 'device lifecycle needs the outbox and a DeviceRegistry' });
    }
    return d.devices;
  };
  // A malformed id is ERR_DEVICE_ID_INVALID, as the lifecycle answers it.
  const byId = {
    params: DeviceIdParam,
    invalid: (where: 'path' | 'query' | 'body', e: z.ZodError) =>
      where === 'path'
        ? new TesseraError('ERR_DEVICE_ID_INVALID', 'a device id is 0x and 64 hex digits')
        : validationError(where, e),
  };

  api.route(
    router,
    {
      method: 'post',
      path: DEVICE_BATCH_PATH,
      summary: `Register up to ${MAX_DEVICE_BATCH} devices as one Merkle batch, one transaction (Manufacturer). Each secret is in this answer only.`,
      bearer: true,
      body: DeviceBatchRequest,
      validateBody: false,
      idempotencyKey:
        'Your request id for this registration (1 to 128 visible ASCII characters). Repeating the request with the same key returns the result of the first one, finishing it if a crash or a chain outage interrupted it (the secrets are delivered then), instead of registering the devices twice.',
      responses: {
        201: {
          description: 'The batch; each device with its provisioning file (secret in clear), salt and proof',
          schema: DeviceBatch,
        },
        202: {
          description:
            'The chain write is recorded but not final yet (the chain is down or slow): `{ pending: true, requestId, message }`; it will be finished, and repeating the request with the same `Idempotency-Key` header returns its result',
        },
      },
      errors: [...GUARD_ERRORS, ...LIFECYCLE, 'ERR_DEVICE_BATCH_TOO_LARGE', 'ERR_VALIDATION', 'ERR_BODY_TOO_LARGE'],
    },
    ...guard(DEVICE_BATCH_PATH),
    jsonBody({ limit: DEVICE_BATCH_MAX_BODY_BYTES }),
    async (_input, req, res) => {
      const l = lifecycle(res);
      if (l) sendOperation(res, await l.register(req.body, await callerOf(res), requestIdOf(req)), 201);
    },
  );
  api.route(
    router,
    {
      method: 'get',
      path: '/devices',
      summary:
        'The devices the caller may see, newest first: all of them for an Operator or an Admin, otherwise those it manufactured or owns',
      bearer: true,
      query: DeviceListQuery,
      responses: {
        200: {
          description: 'A page of devices; `next` is the offset of the following page, absent on the last one',
          schema: z.object({ items: z.array(Device), next: z.number().int().optional() }),
        },
      },
      errors: [...GUARD_ERRORS, 'ERR_VALIDATION', 'ERR_UNAVAILABLE'],
    },
    ...guard('/devices'),
    async ({ query }, _req, res) => {
      const l = lifecycle(res);
      if (l) send(res, await l.list(await callerOf(res), { limit: query.limit ?? 50, offset: query.offset ?? 0 }));
    },
  );
  api.route(
    router,
    {
      method: 'get',
      path: '/devices/{id}',
      summary:
        'A device and its on-chain state (its manufacturer, its owner, an Operator or an Admin); never its secret',
      bearer: true,
      ...byId,
      responses: { 200: { description: 'The device', schema: Device } },
      errors: [...GUARD_ERRORS, ...LIFECYCLE],
    },
    ...guard('/devices/:id'),
    async ({ params }, _req, res) => {
      const l = lifecycle(res);
      if (l) send(res, await l.get(params.id, await callerOf(res)));
    },
  );
  api.route(
    router,
    {
      method: 'post',
      path: '/devices/{id}/commission',
      summary:
        "Bind the device's DID key and activate it (DeviceOwner: a DeviceOwnerCredential whose `device` is that DID; the device's assigned owner if one was named at registration)",
      bearer: true,
      ...byId,
      body: DeviceCommission,
      validateBody: false,
      idempotencyKey:
        'Your request id for this commissioning (1 to 128 visible ASCII characters). Repeating the request with the same key returns the result of the first one, finishing it if a crash or a chain outage interrupted it, instead of writing to the chain twice.',
      responses: {
        200: { description: 'The device after the change', schema: Device },
        202: {
          description:
            'The chain write is recorded but not final yet (the chain is down or slow): `{ pending: true, requestId, message }`; it will be finished, and repeating the request with the same `Idempotency-Key` header returns its result',
        },
      },
      errors: [...GUARD_ERRORS, ...LIFECYCLE, 'ERR_DID_MALFORMED', 'ERR_VALIDATION'],
    },
    ...guard('/devices/:id/commission'),
    async ({ params }, req, res) => {
      const l = lifecycle(res);
      if (l) sendOperation(res, await l.commission(params.id, req.body, await callerOf(res), requestIdOf(req)), 200);
    },
  );
  const actions = [
    ['suspend', 'Suspend an active device; its live sessions are dropped (Operator)'],
    ['resume', 'Resume a suspended device (Operator)'],
    ['revoke', 'Revoke a device for good; its live sessions are dropped (Operator)'],
    ['decommission', 'Take a device out of service for good (its owner, or an Operator)'],
  ] as const;
  for (const [action, summary] of actions) {
    api.route(
      router,
      {
        method: 'post',
        path: `/devices/{id}/${action}`,
        summary,
        bearer: true,
        ...byId,
        responses: { 200: { description: 'The device after the change', schema: Device } },
        errors: [...GUARD_ERRORS, ...LIFECYCLE],
      },
      ...guard(`/devices/:id/${action}`),
      async ({ params }, _req, res) => {
        const l = lifecycle(res);
        if (l) send(res, await l[action](params.id, await callerOf(res)));
      },
    );
  }
  return router;
}
