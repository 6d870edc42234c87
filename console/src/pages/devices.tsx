import { useEffect, useState } from 'preact/hooks';
import { api, type DeviceSession, type DeviceView } from '../api';
import { describeCredential } from '../crypto';
import { credentialsOf, useSession } from '../session';
import { ConfirmButton, Notice, Refusal, Section, settle, short, token } from '../ui';

type Err = { code: string; message: string } | undefined;

/** CSV with a header row of characteristic names (model, serial, hardwareRevision, firmwareHash, mac, …). */
export function parseCsv(text: string): { characteristics: Record<string, string> }[] | string {
  const rows = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1')));
  const [header, ...body] = rows;
  if (!header || body.length === 0) return 'the file needs a header row and at least one device';
  if (new Set(header).size !== header.length || header.some((h) => !/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(h)))
    return 'the header row must name each characteristic once';
  const bad = body.findIndex((r) => r.length !== header.length);
  if (bad >= 0) return `row ${bad + 2} has ${body[bad]!.length} fields, the header ${header.length}`;
  return body.map((r) => ({ characteristics: Object.fromEntries(header.map((h, i) => [h, r[i]!])) }));
}

/** A manufacturer registers a batch from a CSV file; the secrets are downloaded once and never shown. */
function RegisterBatch({ onRegistered }: { onRegistered: (ids: string[]) => void }) {
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();
  return (
    <Section title="Register devices from a CSV file" id="register">
      <p>
        One device a row, a header row naming the characteristics (for example{' '}
        <code>model,serial,hardwareRevision,firmwareHash,mac</code>). The provisioning files, with each device's secret,
        are downloaded once as one JSON file: keep it safe, the console never shows or keeps them.
      </p>
      <form
        id="register-batch"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          setNotice(undefined);
          const form = e.currentTarget;
          const file = (form.elements.namedItem('csv') as HTMLInputElement).files?.[0];
          if (!file) return;
          const devices = parseCsv(await file.text());
          if (typeof devices === 'string') return setError({ code: 'ERR_VALIDATION', message: devices });
          const r = settle(await api.registerBatch(token(), devices));
          if (!r.ok) return setError(r.error);
          const a = document.createElement('a');
          a.href = URL.createObjectURL(
            new Blob([JSON.stringify(r.value.devices, null, 2)], { type: 'application/json' }),
          );
          a.download = `tessera-batch-${r.value.batchId}-provisioning.json`;
          a.click();
          URL.revokeObjectURL(a.href);
          form.reset();
          setNotice(
            `Registered batch ${r.value.batchId}: ${r.value.devices.length} devices. Their provisioning files were downloaded.`,
          );
          onRegistered(r.value.devices.map((d) => d.deviceId));
        }}
      >
        <label for="batch-csv">CSV file</label>{' '}
        <input id="batch-csv" name="csv" type="file" accept=".csv,text/csv" required />{' '}
        <button type="submit">Register</button>
      </form>
      <Refusal error={error} />
      <Notice text={notice} />
    </Section>
  );
}

/** The owner commissions the device with the DID its DeviceOwner credential names (the lifecycle checks it). */
function Commission(props: { deviceId: string; onDone: (notice: string | undefined, error: Err) => Promise<void> }) {
  const s = useSession();
  const named = s.holder
    ? credentialsOf(s.holder, ['DeviceOwnerCredential'])
        .map((jwt) => describeCredential(jwt).claims.device)
        .filter((d): d is string => typeof d === 'string')
    : [];
  return (
    <form
      id="commission"
      class="filters"
      onSubmit={async (e) => {
        e.preventDefault();
        const identity = String(new FormData(e.currentTarget).get('identity') ?? '').trim();
        const r = settle(await api.commission(token(), props.deviceId, identity));
        if (!r.ok) return props.onDone(undefined, r.error);
        await props.onDone(`Device ${props.deviceId}: commissioned as ${identity}.`, undefined);
      }}
    >
      <label for="commission-identity">Device DID</label>
      <input
        id="commission-identity"
        name="identity"
        required
        maxLength={200}
        defaultValue={named[0] ?? ''}
        list="owned-devices"
      />
      <datalist id="owned-devices">
        {named.map((d) => (
          <option key={d} value={d} />
        ))}
      </datalist>
      <button type="submit">Commission</button>
    </form>
  );
}

export function Devices() {
  const s = useSession();
  const allowed = s.session?.allowed ?? {};
  const [known, setKnown] = useState<string[]>([]);
  const [device, setDevice] = useState<DeviceView>();
  const [session, setSession] = useState<DeviceSession>();
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();

  // The devices the caller may see (the issuer's list), newest first.
  const [list, setList] = useState<{ items: DeviceView[]; next?: number }>();
  const [offset, setOffset] = useState(0);
  const listed = allowed['devices.list'] === true;
  useEffect(() => {
    if (!listed) return;
    let alive = true;
    const load = async () => {
      const r = settle(await api.devices(token(), offset));
      if (!alive) return;
      if (r.ok) setList(r.value);
      else setError(r.error);
    };
    void load();
    const t = setInterval(load, 5_000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [offset, listed]);

  // Without the list: the devices named in the audit trail (registrations and lifecycle changes), newest first.
  useEffect(() => {
    if (listed || !allowed['audit.read']) return;
    void (async () => {
      const ids = new Set<string>();
      let after: number | undefined;
      for (let i = 0; i < 20; i++) {
        const r = settle(await api.audit(token(), after, 1000));
        if (!r.ok || r.value.items.length === 0) break;
        for (const e of r.value.items) {
          if (!e.what.startsWith('device.')) continue;
          const d = e.details as { deviceId?: unknown; deviceIds?: unknown };
          if (typeof d.deviceId === 'string') ids.add(d.deviceId);
          if (Array.isArray(d.deviceIds)) for (const x of d.deviceIds) if (typeof x === 'string') ids.add(x);
        }
        after = r.value.items.at(-1)!.seq;
      }
      setKnown([...ids].reverse());
    })();
  }, []);

  const open = async (id: string) => {
    setNotice(undefined);
    const r = settle(await api.device(token(), id));
    if (r.ok) {
      setDevice(r.value);
      setError(undefined);
    } else setError(r.error);
  };
  const act = async (action: 'suspend' | 'resume' | 'revoke' | 'decommission') => {
    if (!device) return;
    const r = settle(
      action === 'decommission'
        ? await api.decommission(token(), device.deviceId)
        : await api.deviceAction(token(), device.deviceId, action),
    );
    if (!r.ok) return setError(r.error);
    await open(device.deviceId);
    setNotice(`Device ${device.deviceId}: ${action} sent.`);
  };
  // The open device's state and MQTT session, live (every 2 s): a revocation shows its session dropping.
  const deviceId = device?.deviceId;
  useEffect(() => {
    if (!deviceId) return;
    let alive = true;
    const poll = async () => {
      const [d, ss] = await Promise.all([api.device(token(), deviceId), api.deviceSession(token(), deviceId)]);
      if (!alive) return;
      if (settle(d).ok && d.ok) setDevice(d.value);
      if (settle(ss).ok && ss.ok) setSession(ss.value);
    };
    void poll();
    const t = setInterval(poll, 2_000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, [deviceId]);

  return (
    <>
      <h1>Devices</h1>
      {allowed['devices.register'] ? (
        <RegisterBatch onRegistered={(ids) => setKnown((k) => [...ids, ...k.filter((x) => !ids.includes(x))])} />
      ) : null}
      {allowed['devices.read'] ? (
        <Section title="Find a device" id="find">
          <form
            class="filters"
            onSubmit={(e) => {
              e.preventDefault();
              void open(String(new FormData(e.currentTarget).get('deviceId') ?? '').trim());
            }}
          >
            <label for="device-id">Device id</label>
            <input id="device-id" name="deviceId" required list="known-devices" />
            <datalist id="known-devices">
              {(list ? list.items.map((d) => d.deviceId) : known).map((d) => (
                <option key={d} value={d} />
              ))}
            </datalist>
            <button type="submit">Open</button>
          </form>
          <Refusal error={error} />
          <Notice text={notice} />
        </Section>
      ) : null}
      {list ? (
        <Section title="Devices" id="device-list">
          <table>
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">State</th>
                <th scope="col">Model</th>
                <th scope="col">Serial</th>
                <th scope="col">Owner</th>
                <th scope="col">Registered</th>
              </tr>
            </thead>
            <tbody>
              {list.items.map((d) => (
                <tr key={d.deviceId} data-device={d.deviceId}>
                  <th scope="row">
                    <button type="button" class="link" data-action="open-device" onClick={() => void open(d.deviceId)}>
                      {short(d.deviceId, 12)}
                    </button>
                  </th>
                  <td data-state>{d.state}</td>
                  <td>{d.characteristics.model ?? '–'}</td>
                  <td>{d.characteristics.serial ?? '–'}</td>
                  <td title={d.owner ?? ''}>{d.owner ? short(d.owner, 16) : '–'}</td>
                  <td>{new Date(d.createdAt).toLocaleString()}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.items.length === 0 ? <p class="muted">No device yet.</p> : null}
          <p class="actions">
            {offset > 0 ? (
              <button type="button" onClick={() => setOffset(Math.max(0, offset - 50))}>
                Newer
              </button>
            ) : null}{' '}
            {list.next !== undefined ? (
              <button type="button" onClick={() => setOffset(list.next ?? 0)}>
                Older
              </button>
            ) : null}
          </p>
        </Section>
      ) : null}
      {device ? (
        <Section title={`Device ${device.deviceId}`} id="device">
          <dl class="facts">
            <dt>State</dt>
            <dd data-device-state>{device.state}</dd>
            <dt>Session</dt>
            <dd data-device-session>{session ? (session.connected ? 'connected' : 'none') : '…'}</dd>
            <dt>Last handshake</dt>
            <dd data-device-handshake>
              {session?.lastHandshake
                ? `${session.lastHandshake.outcome}${session.lastHandshake.code ? ` (${session.lastHandshake.code})` : ''} at ${new Date(session.lastHandshake.at).toLocaleTimeString()}`
                : 'none since the stack started'}
            </dd>
            <dt>DID</dt>
            <dd>{device.did ?? 'not commissioned'}</dd>
            <dt>Manufacturer</dt>
            <dd title={device.manufacturer}>{short(device.manufacturer, 30)}</dd>
            <dt>Owner</dt>
            <dd>{device.owner ? short(device.owner, 30) : '–'}</dd>
            <dt>Fingerprint</dt>
            <dd>{short(device.fingerprint, 20)}</dd>
            <dt>Updated</dt>
            <dd>{new Date(device.updatedAt).toLocaleString()}</dd>
          </dl>
          <p class="actions">
            {allowed['devices.suspend'] ? (
              <ConfirmButton
                name="suspend"
                label="Suspend"
                question="Suspend this device?"
                onConfirm={() => act('suspend')}
              />
            ) : null}
            {allowed['devices.resume'] ? (
              <ConfirmButton
                name="resume"
                label="Resume"
                question="Resume this device?"
                onConfirm={() => act('resume')}
              />
            ) : null}
            {allowed['devices.revoke'] ? (
              <ConfirmButton
                name="revoke"
                danger
                label="Revoke"
                question="Revoke this device? Its session is dropped and revocation is final."
                onConfirm={() => act('revoke')}
              />
            ) : null}
            {allowed['devices.decommission'] ? (
              <ConfirmButton
                name="decommission"
                danger
                label="Decommission"
                question="Decommission this device? It leaves service for good."
                onConfirm={() => act('decommission')}
              />
            ) : null}
          </p>
          {allowed['devices.commission'] ? (
            <Commission
              deviceId={device.deviceId}
              onDone={async (text, e) => {
                // the device as it is now first (opening it clears the messages), then what the lifecycle said
                await open(device.deviceId);
                setError(e);
                setNotice(text);
              }}
            />
          ) : null}
        </Section>
      ) : null}
    </>
  );
}
