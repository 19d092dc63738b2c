// Reassembly of large server frames (protocol P16): a frame whose JSON text is over 1 MiB
// arrives as consecutive `{"type":"part","seq":n,"last":bool,"data":"<slice>"}` frames, seq from
// 0, nothing else in between; the concatenated `data` is the frame's JSON text. Pure: one
// assembler per connection, fed every parsed frame, answering the whole frames.
import { SyncError } from './errors.js';

/** A broken part sequence (seq gap, a foreign frame in the middle, bad JSON): drop the connection. */
const broken = (why) => new SyncError('protocol_error', `broken part sequence (protocol P16): ${why}`);

/** Reassembles the part frames of one connection. */
export class PartAssembler {
  constructor() {
    /** @type {string[]|null} slices so far of the frame being received */
    this.slices = null;
  }

  /** True while the parts of a frame are arriving. @returns {boolean} */
  get pending() { return this.slices !== null; }

  /**
   * Feeds one parsed frame. Returns the frame to handle (the frame itself, or the whole frame
   * once its last part arrived), or null while parts are still missing. Throws a SyncError
   * `protocol_error` on a broken sequence (the caller drops the connection and resumes).
   * @param {any} frame
   * @returns {any}
   */
  push(frame) {
    if (!frame || frame.type !== 'part') {
      if (this.slices) { this.slices = null; throw broken(`a ${frame && frame.type} frame arrived between the parts of another`); }
      return frame;
    }
    const expected = this.slices ? this.slices.length : 0;
    if (frame.seq !== expected) { this.slices = null; throw broken(`part ${frame.seq} arrived where part ${expected} was expected`); }
    if (typeof frame.data !== 'string') { this.slices = null; throw broken(`part ${frame.seq} has no data`); }
    (this.slices ??= []).push(frame.data);
    if (frame.last !== true) return null;
    const text = this.slices.join('');
    this.slices = null;
    try { return JSON.parse(text); } catch (e) { throw broken(`the joined parts are not JSON (${/** @type {Error} */ (e).message})`); }
  }
}
