import { useEffect, useState } from 'preact/hooks';
import { type AuditEntry, api } from '../api';
import { useSession } from '../session';
import { Notice, Refusal, Section, settle, short, token } from '../ui';

const PAGE = 50;

export function Audit() {
  const s = useSession();
  const [items, setItems] = useState<AuditEntry[]>([]);
  const [pages, setPages] = useState<number[]>([]);
  const [error, setError] = useState<{ code: string; message: string }>();
  const [verified, setVerified] = useState<string>();
  const load = async (afterSeq?: number) => {
    const r = settle(await api.audit(token(), afterSeq, PAGE));
    if (r.ok) setItems(r.value.items);
    else setError(r.error);
  };
  useEffect(() => {
    void load();
  }, []);
  return (
    <>
      <h1>Audit trail</h1>
      <p class="actions">
        {s.session?.allowed['audit.verify'] ? (
          <button
            type="button"
            id="verify-audit"
            onClick={async () => {
              setVerified(undefined);
              const r = settle(await api.verifyAudit(token()));
              if (r.ok)
                setVerified(
                  `Verified: ${r.value.length} entries chain up to seq ${r.value.head.seq} (${short(r.value.head.hash, 12)}), consistent with the anchor on chain.`,
                );
              else setError(r.error);
            }}
          >
            Verify against the on-chain anchor
          </button>
        ) : null}{' '}
        <button
          type="button"
          id="export-audit"
          onClick={async () => {
            const all: AuditEntry[] = [];
            let after: number | undefined;
            for (;;) {
              const r = settle(await api.audit(token(), after, 1000));
              if (!r.ok) return setError(r.error);
              all.push(...r.value.items);
              if (r.value.items.length < 1000) break;
              after = r.value.items.at(-1)!.seq;
            }
            const a = document.createElement('a');
            a.href = URL.createObjectURL(new Blob([JSON.stringify(all, null, 2)], { type: 'application/json' }));
            a.download = 'tessera-audit.json';
            a.click();
            URL.revokeObjectURL(a.href);
          }}
        >
          Export as JSON
        </button>
      </p>
      <Refusal error={error} />
      <Notice text={verified} />
      <Section title="Entries" id="entries">
        <table id="audit">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {items.map((e) => (
              <tr key={e.seq} data-seq={e.seq} data-what={e.what}>
                <td>{e.seq}</td>
                <td>{new Date(e.when).toLocaleString()}</td>
                <td title={e.who}>{short(e.who, 24)}</td>
                <td>{e.what}</td>
                <td class="details">{JSON.stringify(e.details).slice(0, 200)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p class="actions">
          <button
            type="button"
            disabled={pages.length === 0}
            onClick={() => {
              const prev = pages.slice(0, -1);
              setPages(prev);
              void load(prev.at(-1));
            }}
          >
            Previous
          </button>{' '}
          <button
            type="button"
            disabled={items.length < PAGE}
            onClick={() => {
              const after = items.at(-1)!.seq;
              setPages([...pages, after]);
              void load(after);
            }}
          >
            Next
          </button>
        </p>
      </Section>
    </>
  );
}
