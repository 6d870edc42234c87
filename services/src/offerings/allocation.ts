/**
 * Allocation at close. When the book holds no more than the offering's amount, every ticket is filled. When it is
 * oversubscribed, tickets are scaled pro rata: each gets floor(quantity × amount / book), and the units left by
 * rounding go one each to the largest fractional remainders (ties: the earlier subscription, then the smaller id),
 * so the result is deterministic and sums exactly to the amount. A ticket whose pro-rata share would fall below the
 * minimum ticket is dropped (allocated 0), smallest first, and the others are scaled again, since investors asked
 * for at least the minimum.
 */

export interface Ticket {
  id: string;
  quantity: number;
  /** Order of arrival (ISO time or any string that sorts by arrival). */
  at: string;
}

export interface Allocation {
  id: string;
  requested: number;
  allocated: number;
}

const byArrival = (a: Ticket, b: Ticket) =>
  a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

/**
 * @param amount units offered
 * @param minTicket the minimum ticket: no one is allocated less than this, except 0
 * @example allocate(100, 10, [{ id: 'a', quantity: 150, at: '1' }, { id: 'b', quantity: 50, at: '2' }])
 *          // a: 75, b: 25
 */
export function allocate(amount: number, minTicket: number, tickets: readonly Ticket[]): Allocation[] {
  const total = tickets.reduce((s, t) => s + t.quantity, 0);
  const result = new Map<string, number>();
  if (total <= amount) {
    for (const t of tickets) result.set(t.id, t.quantity);
  } else {
    // Smallest tickets first (on equal size, the later one goes first): the candidates for dropping.
    const kept = [...tickets].sort((a, b) => a.quantity - b.quantity || -byArrival(a, b));
    const A = BigInt(amount);
    let book = kept.reduce((s, t) => s + BigInt(t.quantity), 0n);
    while (kept.length > 0 && book > A && (BigInt(kept[0]!.quantity) * A) / book < BigInt(minTicket)) {
      book -= BigInt(kept.shift()!.quantity);
    }
    if (book <= A) {
      for (const t of kept) result.set(t.id, t.quantity);
    } else {
      const shares = kept.map((t) => {
        const scaled = BigInt(t.quantity) * A;
        return { t, floor: scaled / book, rem: scaled % book };
      });
      let left = A - shares.reduce((s, x) => s + x.floor, 0n);
      shares.sort((x, y) => (x.rem > y.rem ? -1 : x.rem < y.rem ? 1 : byArrival(x.t, y.t)));
      for (const s of shares) {
        const extra = left > 0n ? 1n : 0n;
        left -= extra;
        result.set(s.t.id, Number(s.floor + extra));
      }
    }
  }
  return tickets.map((t) => ({ id: t.id, requested: t.quantity, allocated: result.get(t.id) ?? 0 }));
}
