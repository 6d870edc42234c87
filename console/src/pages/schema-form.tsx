import type { JsonSchema } from '../api';

/** The value a form field holds, turned into the claim's JSON type (empty fields are left out). */
export function claimsFrom(schema: JsonSchema, form: HTMLFormElement): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const data = new FormData(form);
  for (const [name, prop] of Object.entries<JsonSchema>(schema.properties ?? {})) {
    const field = `claim.${name}`;
    if (prop.type === 'boolean') {
      if (data.get(field) === 'on') out[name] = true;
      continue;
    }
    const raw = String(data.get(field) ?? '').trim();
    if (raw === '') continue;
    if (prop.type === 'number' || prop.type === 'integer') out[name] = Number(raw);
    else if (prop.type === 'array' && prop.items?.type === 'string')
      out[name] = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (prop.type === 'string') out[name] = raw;
    else {
      // Objects and anything else: JSON as typed; the issuer validates it against the same schema.
      try {
        out[name] = JSON.parse(raw);
      } catch {
        out[name] = raw;
      }
    }
  }
  return out;
}

/** Form fields generated from a claim schema the issuer publishes in its OpenAPI document. */
export function SchemaFields({ schema }: { schema: JsonSchema }) {
  const required = new Set<string>(schema.required ?? []);
  return (
    <>
      {Object.entries<JsonSchema>(schema.properties ?? {}).map(([name, prop]) => {
        const id = `claim-${name}`;
        const label = (
          <label for={id}>
            {name}
            {required.has(name) ? ' (required)' : ''}
          </label>
        );
        const help = prop.description ? <small id={`${id}-help`}>{prop.description}</small> : null;
        const describedBy = prop.description ? `${id}-help` : undefined;
        let input: preact.JSX.Element;
        if (prop.type === 'boolean') {
          input = <input id={id} name={`claim.${name}`} type="checkbox" aria-describedby={describedBy} />;
          return (
            <div class="field check" key={name}>
              {input} {label} {help}
            </div>
          );
        }
        if (Array.isArray(prop.enum)) {
          input = (
            <select id={id} name={`claim.${name}`} required={required.has(name)} aria-describedby={describedBy}>
              <option value="">—</option>
              {prop.enum.map((v: unknown) => (
                <option key={String(v)} value={String(v)}>
                  {String(v)}
                </option>
              ))}
            </select>
          );
        } else if (prop.type === 'number' || prop.type === 'integer') {
          input = (
            <input
              id={id}
              name={`claim.${name}`}
              type="number"
              step={prop.type === 'integer' ? '1' : 'any'}
              required={required.has(name)}
              aria-describedby={describedBy}
              {...(prop.minimum !== undefined ? { min: prop.minimum } : {})}
              {...(prop.maximum !== undefined ? { max: prop.maximum } : {})}
            />
          );
        } else if (prop.type === 'string') {
          input = (
            <input
              id={id}
              name={`claim.${name}`}
              type={(prop.format === 'email' ? 'email' : prop.format === 'date' ? 'date' : 'text') as 'text'}
              required={required.has(name)}
              aria-describedby={describedBy}
              placeholder={prop.examples?.[0] ?? ''}
              {...(prop.maxLength ? { maxLength: prop.maxLength } : {})}
            />
          );
        } else {
          input = (
            <textarea
              id={id}
              name={`claim.${name}`}
              rows={2}
              required={required.has(name)}
              aria-describedby={describedBy}
              placeholder={prop.type === 'array' ? 'comma-separated, or JSON' : 'JSON'}
            />
          );
        }
        return (
          <div class="field" key={name}>
            {label}
            {input}
            {help}
          </div>
        );
      })}
    </>
  );
}
