/**
 * How channels sit in a tensor, for the dependency analysis of structured pruning.
 *
 * A *space* is one set of coupled channels: every tensor in it must lose the same channels
 * (a Conv's outputs, the BatchNorm and activation after it, the other side of a residual Add,
 * the squeeze-excite scale that multiplies them). Spaces are joined in a union-find as the
 * analysis discovers couplings. A tensor's {@link ChannelLayout} says on which axis its
 * channels lie and which spaces fill that axis: one segment for an ordinary tensor, several
 * after a Concat along the channels. `block` is the number of consecutive elements per channel
 * on that axis: 1 in an NCHW tensor, H·W after Flatten (channel-major blocks).
 */

/** A run of channels on an axis, owned by a space (null: channels no space owns, never pruned). */
export interface Segment {
  readonly space: number | null;
  readonly size: number;
}

/** Where a tensor's channels are. The axis holds Σ segment sizes × block elements. */
export interface ChannelLayout {
  readonly axis: number;
  readonly block: number;
  readonly segments: readonly Segment[];
}

/** Total channel count of a layout (not counting the block). */
export function channelCount(l: ChannelLayout): number {
  return l.segments.reduce((s, g) => s + g.size, 0);
}

/** Union-find over spaces, carrying what the analysis learns about each. */
export class SpaceSet {
  private readonly parent: number[] = [];
  private readonly size: number[] = [];
  private readonly blocks: number[] = [];
  private readonly blocked: Array<string | undefined> = [];

  /** A new space of `channels` channels. */
  add(channels: number): number {
    const id = this.parent.length;
    this.parent.push(id);
    this.size.push(channels);
    this.blocks.push(1);
    this.blocked.push(undefined);
    return id;
  }

  find(id: number): number {
    let r = id;
    while (this.parent[r] !== r) r = this.parent[r] as number;
    // Path compression keeps later finds short.
    let x = id;
    while (this.parent[x] !== r) {
      const next = this.parent[x] as number;
      this.parent[x] = r;
      x = next;
    }
    return r;
  }

  /** Join two spaces; a size mismatch blocks the result (the coupling cannot be honoured). */
  union(a: number, b: number, where: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    this.parent[rb] = ra;
    this.blocks[ra] = lcm(this.blocks[ra] as number, this.blocks[rb] as number);
    this.blocked[ra] ??= this.blocked[rb];
    if (this.size[ra] !== this.size[rb])
      this.block(ra, `${where} joins ${this.size[ra]} channels with ${this.size[rb]}`);
  }

  channels(id: number): number {
    return this.size[this.find(id)] as number;
  }

  /** Channels must be kept in equal numbers in each of `n` consecutive blocks (grouped convolutions). */
  requireBlocks(id: number, n: number): void {
    const r = this.find(id);
    this.blocks[r] = lcm(this.blocks[r] as number, n);
    if ((this.size[r] as number) % (this.blocks[r] as number) !== 0)
      this.block(r, `${this.size[r]} channels do not split into ${this.blocks[r]} equal groups`);
  }

  blocksOf(id: number): number {
    return this.blocks[this.find(id)] as number;
  }

  /** Marks the space as not prunable; the first reason is kept (it names the first obstacle). */
  block(id: number, reason: string): void {
    const r = this.find(id);
    this.blocked[r] ??= reason;
  }

  blockedReason(id: number): string | undefined {
    return this.blocked[this.find(id)];
  }

  get count(): number {
    return this.parent.length;
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function lcm(a: number, b: number): number {
  return (a / gcd(a, b)) * b;
}

/**
 * Indices kept along a tensor's channel axis (block-expanded), given the kept channels of each
 * space by root id. Spaces with no entry keep everything.
 */
export function keptAlongAxis(l: ChannelLayout, keptOf: (space: number) => readonly number[] | undefined): number[] {
  const out: number[] = [];
  let offset = 0;
  for (const seg of l.segments) {
    const kept = seg.space === null ? undefined : keptOf(seg.space);
    const channels = kept ?? Array.from({ length: seg.size }, (_x, i) => i);
    for (const c of channels) {
      const first = (offset + c) * l.block;
      for (let k = 0; k < l.block; k++) out.push(first + k);
    }
    offset += seg.size;
  }
  return out;
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/**
 * The layout after a pure reshape (Reshape, Flatten, Squeeze, Unsqueeze) from `inDims` to
 * `outDims`, or undefined when the channels do not survive as contiguous channel-major blocks
 * of one output axis (the reshape mixes them with other axes).
 */
export function layoutThroughReshape(
  l: ChannelLayout,
  inDims: readonly number[],
  outDims: readonly number[],
): { layout: ChannelLayout; outAxis: number } | undefined {
  const outer = prod(inDims.slice(0, l.axis));
  const inner = prod(inDims.slice(l.axis + 1));
  const span = (inDims[l.axis] ?? 0) * inner;
  for (let a = 0; a < outDims.length; a++) {
    if (prod(outDims.slice(0, a)) !== outer) continue;
    const innerOut = prod(outDims.slice(a + 1));
    if ((outDims[a] ?? 0) * innerOut !== span) continue;
    const chunk = l.block * inner;
    if (chunk % innerOut !== 0) continue;
    return { layout: { axis: a, block: chunk / innerOut, segments: l.segments }, outAxis: a };
  }
  return undefined;
}
