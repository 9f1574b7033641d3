import { describeValue } from "../args";
import { fail } from "../errors";

/** Every block starts on a cache line, which also satisfies v128 alignment. */
export const ALIGN = 64;

const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/**
 * First-fit allocator over a region of linear memory [start, end). Free blocks are kept sorted
 * and merged with their neighbours, so a long run that frees what it allocates stays flat.
 * `grow(bytes)` is called when nothing fits; it must extend the region and return the new end.
 */
export class Allocator {
  private freeBlocks: { start: number; size: number }[];
  private readonly used = new Map<number, number>();
  private end: number;

  constructor(
    start: number,
    end: number,
    private readonly grow: (bytes: number) => number,
  ) {
    const first = alignUp(start);
    this.end = end;
    this.freeBlocks = end > first ? [{ start: first, size: end - first }] : [];
  }

  /** Returns the address of `bytes` fresh bytes (contents unspecified). */
  alloc(bytes: number): number {
    if (typeof bytes !== "number" || !Number.isFinite(bytes) || bytes < 0)
      fail("BAD_ARGUMENT", `cannot allocate ${describeValue(bytes)} bytes`);
    const size = alignUp(Math.max(bytes, 1));
    let index = this.freeBlocks.findIndex((b) => b.size >= size);
    if (index < 0) {
      const last = this.freeBlocks[this.freeBlocks.length - 1];
      const tailFree = last && last.start + last.size === this.end ? last.size : 0;
      const newEnd = this.grow(size - tailFree);
      this.release_(this.end, newEnd - this.end);
      this.end = newEnd;
      index = this.freeBlocks.findIndex((b) => b.size >= size);
    }
    const block = this.freeBlocks[index];
    const ptr = block.start;
    if (block.size === size) this.freeBlocks.splice(index, 1);
    else {
      block.start += size;
      block.size -= size;
    }
    this.used.set(ptr, size);
    return ptr;
  }

  /**
   * Returns a block from alloc() to the free list. An address that is not the start of a block in
   * use (freed already, or never allocated) is refused before anything changes: freeing it again
   * could hand memory that another object now owns to a third.
   */
  free(ptr: number): void {
    const size = this.used.get(ptr);
    if (size === undefined)
      fail("BAD_STATE", `free of an address that is not allocated (freed twice?): ${describeValue(ptr)}`);
    this.used.delete(ptr);
    this.release_(ptr, size);
  }

  /** Bytes currently handed out. */
  get usedBytes(): number {
    let total = 0;
    for (const size of this.used.values()) total += size;
    return total;
  }

  private release_(start: number, size: number): void {
    if (size <= 0) return;
    const blocks = this.freeBlocks;
    let i = 0;
    while (i < blocks.length && blocks[i].start < start) i++;
    blocks.splice(i, 0, { start, size });
    // Merge with the next block, then with the previous one.
    if (i + 1 < blocks.length && start + size === blocks[i + 1].start) {
      blocks[i].size += blocks[i + 1].size;
      blocks.splice(i + 1, 1);
    }
    if (i > 0 && blocks[i - 1].start + blocks[i - 1].size === start) {
      blocks[i - 1].size += blocks[i].size;
      blocks.splice(i, 1);
    }
  }
}
