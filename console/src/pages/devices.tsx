import { useEffect, useState } from 'preact/hooks';
import { api, type DeviceSession, type DeviceView } from '../api';
import { useSession } from '../session';
import { ConfirmButton, Notice, Refusal, Section, settle, short, token } from '../ui';

type Err = { code: string; message: string } | undefined;

export function Devices() {
  const s = useSession();
  const allowed = s.session?.allowed ?? {};
  const [known, setKnown] = useState<string[]>([]);
  const [device, setDevice] = useState<DeviceView>();
  const [session, setSession] = useState<DeviceSession>();
  const [error, setError] = useState<Err>();
  const [notice, setNotice] = useState<string>();

  // The devices named in the audit trail (registrations and lifecycle changes), newest first.
  useEffect(() => {
    if (!allowed['audit.read']) return;
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
  const act = async (action: 'suspend' | 'resume' | 'revoke') => {
    if (!device) return;
    const r = settle(await api.deviceAction(token(), device.deviceId, action));
    if (!r.ok) return setError(r.error);
    setNotice(`Device ${device.deviceId}: ${action} sent.`);
    await open(device.deviceId);
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
            {known.map((d) => (
              <option key={d} value={d} />
            ))}
          </datalist>
          <button type="submit">Open</button>
        </form>
        <Refusal error={error} />
        <Notice text={notice} />
      </Section>
      {device ? (
        <Section title={`Device ${device.deviceId}`} id="device">
          <dl class="facts">
            <dt>State</dt>
            <dd data-device-state>{device.state}</dd>
            <dt>Session</dt>
            <dd data-device-session>{session ? (session.connected ? 'connected' : 'none') : '…'}</dd>
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
          </p>
        </Section>
      ) : null}
    </>
  );
}
