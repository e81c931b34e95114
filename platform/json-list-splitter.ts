/**
 * Reads a JSON list object (`{"kind": ..., "metadata": {...}, "items": [{...}, ...]}`, what
 * the Kubernetes apiserver answers a LIST with) as its bytes arrive, and hands over each
 * element of `items` as soon as it is complete, parsed on its own. The rest of the object
 * (kind, metadata with the continue token, ...) is parsed at the end, with `items: []`.
 *
 * Why: JSON.parse of a whole page builds every item's full tree at once (managedFields,
 * specs, ...), together with the page's text; V8 promotes much of that to the old
 * generation before it dies, and a sweep over thousands of pods then grows the heap by
 * hundreds of MB between full collections. Parsed one at a time, an item's tree dies young.
 *
 * It tracks only nesting and strings (UTF-8 continuation bytes are never structural), so it
 * is as strict as JSON.parse on each item and on the rest; a top-level value that is not an
 * object, or `items` that is not an array of objects, is an error.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const ITEMS_KEY = 'items';

export class JsonListSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** At depth 1: the next string is a key. */
  private expectKey = false;
  /** The top-level key being read, while its string is open. */
  private keyBytes: number[] | undefined;
  private currentKey: string | undefined;
  /** Inside the items array (between its brackets). */
  private inItems = false;
  /** The item being read (its bytes so far), while one is open. */
  private itemParts: Buffer[] | undefined;
  private readonly restParts: Buffer[] = [];
  private done = false;

  constructor(private readonly onItem: (item: Record<string, unknown>) => void) {}

  write(chunk: Buffer): void {
    if (this.done) {
      if (chunk.toString('utf8').trim() !== '') throw new Error('JSON list: data after the end of the list object');
      return;
    }
    let restStart = this.inItems ? -1 : 0;
    let itemStart = this.itemParts ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) {
          this.inString = false;
          if (this.keyBytes) {
            this.currentKey = Buffer.from(this.keyBytes).toString('utf8');
            this.keyBytes = undefined;
          }
        } else if (this.keyBytes) this.keyBytes.push(byte);
        continue;
      }
      switch (byte) {
        case QUOTE:
          this.inString = true;
          if (this.depth === 1 && this.expectKey) {
            this.keyBytes = [];
            this.expectKey = false;
          } else if (this.inItems && this.depth === 2) throw new Error('JSON list: an element of items is not an object');
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          if (this.depth === 0 && byte !== OPEN_OBJECT) throw new Error('JSON list: the answer is not an object');
          this.depth++;
          if (this.depth === 1) this.expectKey = true;
          else if (this.depth === 2 && this.currentKey === ITEMS_KEY) {
            if (byte !== OPEN_ARRAY) throw new Error('JSON list: items is not an array');
            // Keep the bracket in the rest, and leave out everything up to the closing one.
            this.restParts.push(Buffer.from(chunk.subarray(restStart, i + 1)));
            restStart = -1;
            this.inItems = true;
          } else if (this.inItems && this.depth === 3) {
            if (byte !== OPEN_OBJECT) throw new Error('JSON list: an element of items is not an object');
            this.itemParts = [];
            itemStart = i;
          }
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          if (this.depth === 0) throw new Error('JSON list: unbalanced brackets');
          this.depth--;
          if (this.inItems && this.depth === 2 && this.itemParts) {
            this.itemParts.push(chunk.subarray(itemStart, i + 1));
            const text = Buffer.concat(this.itemParts).toString('utf8');
            this.itemParts = undefined;
            itemStart = -1;
            this.onItem(JSON.parse(text) as Record<string, unknown>);
          } else if (this.inItems && this.depth === 1) {
            this.inItems = false;
            restStart = i;
          }
          if (this.depth === 0) this.done = true;
          break;
        case COMMA:
          if (this.depth === 1) this.expectKey = true;
          break;
        case COLON:
          if (this.depth === 1) this.expectKey = false;
          break;
        default:
          if (this.inItems && this.depth === 2 && byte > 0x20) throw new Error('JSON list: an element of items is not an object');
      }
      if (this.done) {
        if (restStart >= 0) this.restParts.push(Buffer.from(chunk.subarray(restStart, i + 1)));
        restStart = -1;
        if (
          chunk
            .subarray(i + 1)
            .toString('utf8')
            .trim() !== ''
        )
          throw new Error('JSON list: data after the end of the list object');
        return;
      }
    }
    if (restStart >= 0) this.restParts.push(Buffer.from(chunk.subarray(restStart)));
    if (this.itemParts && itemStart >= 0) this.itemParts.push(chunk.subarray(itemStart));
  }

  /** The list object without its items (`items: []` if it had some). Throws if it is incomplete. */
  end(): Record<string, unknown> {
    if (!this.done) throw new Error('JSON list: the answer ended before the list object did');
    return JSON.parse(Buffer.concat(this.restParts).toString('utf8')) as Record<string, unknown>;
  }
}
