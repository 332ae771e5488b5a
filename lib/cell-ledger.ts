// Mirrors which KV cells each sequence holds, so the context can report cells in use and free without
// asking llama.cpp (whose public API has no such call).
//
// It follows the unified cache's rules: a decoded token takes one new cell tagged with its sequence; a
// copy (fork) tags the source's cells with the destination too, taking no new cells; removing a
// sequence's range untags its cells, and a cell with no tags left is free.
export class CellLedger {
  readonly #cells = new Map<number, { ids: number[]; positions: number[] }>();
  readonly #refs: number[] = [];
  readonly #freeIds: number[] = [];
  #used = 0;
  #peak = 0;

  get used(): number {
    return this.#used;
  }

  /** The most cells in use at once since the last resetPeak(). */
  get peak(): number {
    return this.#peak;
  }

  resetPeak(): void {
    this.#peak = this.#used;
  }

  /** Cells held by one sequence (shared ones included). */
  heldBy(seq: number): number {
    return this.#cells.get(seq)?.ids.length ?? 0;
  }

  add(seq: number, positions: readonly number[]): void {
    const held = this.#entry(seq);
    for (const position of positions) {
      const id = this.#freeIds.pop() ?? this.#refs.length;
      this.#refs[id] = 1;
      this.#used++;
      held.ids.push(id);
      held.positions.push(position);
    }
    this.#peak = Math.max(this.#peak, this.#used);
  }

  copy(src: number, dst: number): void {
    this.remove(dst);
    const from = this.#cells.get(src);
    if (!from) return;
    for (const id of from.ids) this.#refs[id]!++;
    this.#cells.set(dst, { ids: [...from.ids], positions: [...from.positions] });
  }

  /** Untags the sequence's cells at positions >= from (all when from is 0). */
  remove(seq: number, from = 0): void {
    const held = this.#cells.get(seq);
    if (!held) return;
    const keepIds: number[] = [];
    const keepPositions: number[] = [];
    held.ids.forEach((id, i) => {
      if (held.positions[i]! >= from) {
        if (--this.#refs[id]! === 0) {
          this.#used--;
          this.#freeIds.push(id);
        }
      } else {
        keepIds.push(id);
        keepPositions.push(held.positions[i]!);
      }
    });
    if (keepIds.length === 0) this.#cells.delete(seq);
    else this.#cells.set(seq, { ids: keepIds, positions: keepPositions });
  }

  #entry(seq: number) {
    let held = this.#cells.get(seq);
    if (!held) {
      held = { ids: [], positions: [] };
      this.#cells.set(seq, held);
    }
    return held;
  }
}
