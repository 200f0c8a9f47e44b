// sound.js: the game's sounds, synthesized with WebAudio (oscillators and filtered noise through gain envelopes; no
// sound files), and the mute switch (Sounds, no DOM) with its HUD button (MuteButton, the only DOM here).
//
// Four sounds, each started by main.js from what a snapshot says (feedback.js): `shot` (a new bullet of the own
// player's), `hit` (a confirmed hit of its), `kill` (its kill), `hurt` (its hp fell). Browsers let a page make sound
// only after a user gesture, so the AudioContext is created by unlock(), which main.js calls on every keydown and
// pointerdown (the first creates the context; later ones resume it if the browser suspended it). Until then, while
// muted, or without WebAudio at all, play() does nothing and counts nothing: `counts` are the sounds really started.
// Nothing here throws: a page without WebAudio (or whose audio fails) plays silently.
//
// The mute state is kept in localStorage (`skirmish.muted`: "1" muted, "0" not; unmuted when absent or unreadable).

/** localStorage key of the mute state. */
export const MUTE_KEY = 'skirmish.muted';
/** The sounds, in the order `counts` lists them. */
export const SOUND_KINDS = Object.freeze(['shot', 'hit', 'kill', 'hurt']);

/** Overall volume (every sound goes through one gain node at this level). */
const MASTER_GAIN = 0.5;
/** Attack of every envelope, seconds; the release is exponential down to SILENT. */
const ATTACK = 0.004;
const SILENT = 0.0001;
/** Length of the shared white-noise buffer, seconds. */
const NOISE_SECONDS = 0.5;

/** A new AudioContext of the page (`AudioContext` or the older `webkitAudioContext`), or null without WebAudio. */
export function defaultAudioContext() {
  const Ctor = globalThis.AudioContext ?? globalThis.webkitAudioContext;
  return typeof Ctor === 'function' ? new Ctor() : null;
}

/** The mute state `storage` (a Storage, or null) remembers: true only for "1". */
export function loadMuted(storage) {
  try {
    return storage !== null && storage !== undefined && storage.getItem(MUTE_KEY) === '1';
  } catch {
    return false; // storage blocked: unmuted, the default
  }
}

/** Remembers the mute state in `storage` ("1" or "0"); a storage that refuses it is ignored. */
export function saveMuted(storage, muted) {
  try {
    if (storage !== null && storage !== undefined) storage.setItem(MUTE_KEY, muted ? '1' : '0');
  } catch {
    // private mode, quota, sandboxed frame: the switch still works for this page
  }
}

export class Sounds {
  /**
   * `createContext()` makes the AudioContext (defaultAudioContext; tests give a fake), `storage` keeps the mute
   * state (localStorage, or null).
   */
  constructor({ createContext = defaultAudioContext, storage = null } = {}) {
    this.createContext = createContext;
    this.storage = storage;
    /** The AudioContext once a gesture created it, else null; and the master gain every sound goes through. */
    this.ctx = null;
    this.master = null;
    /** The white noise the shot and hurt sounds filter, made once per context. */
    this.noise = null;
    /** Creating the context failed (or WebAudio is missing): no further attempt. */
    this.unavailable = false;
    this.muted = loadMuted(storage);
    /** Sounds started, by kind. */
    this.counts = { shot: 0, hit: 0, kill: 0, hurt: 0 };
    /** Sounds that failed to start (an audio graph that threw). */
    this.errors = 0;
  }

  /** 'running', 'suspended', 'closed' (the context's state), or null while there is none. */
  get state() {
    return this.ctx === null ? null : String(this.ctx.state);
  }

  /**
   * A user gesture: creates the AudioContext the first time, resumes it if the browser suspended it. Returns
   * whether there is a context. Never throws.
   */
  unlock() {
    if (this.ctx === null) {
      if (this.unavailable) return false;
      try {
        const ctx = this.createContext();
        if (ctx === null || ctx === undefined) {
          this.unavailable = true;
          return false;
        }
        const master = ctx.createGain();
        master.gain.value = MASTER_GAIN;
        master.connect(ctx.destination);
        this.ctx = ctx;
        this.master = master;
      } catch {
        this.unavailable = true;
        return false;
      }
    }
    if (this.ctx.state === 'suspended' && typeof this.ctx.resume === 'function') {
      try {
        const p = this.ctx.resume();
        if (p && typeof p.catch === 'function') p.catch(() => {});
      } catch {
        // resumed at the next gesture, perhaps
      }
    }
    return true;
  }

  /** Mutes or unmutes, and remembers it. */
  setMuted(muted) {
    this.muted = Boolean(muted);
    saveMuted(this.storage, this.muted);
  }

  /** Flips the mute state (the M key, the HUD button); returns the new one. */
  toggleMuted() {
    this.setMuted(!this.muted);
    return this.muted;
  }

  /**
   * The sounds of what one snapshot told the own player (feedback.js's OwnFeedback.observe result): a new own bullet
   * is a shot, a hit that did not kill a hit, a kill event of its or a hit that killed a kill (the kill's sound
   * rather than the hit's), hp lost hurt. At most one of each per snapshot.
   */
  playFeedback(f) {
    if (f.shot) this.play('shot');
    if (f.hit) this.play('hit');
    if (f.kill || f.killHit) this.play('kill');
    if (f.hurt) this.play('hurt');
  }

  /**
   * Starts sound `kind` (one of SOUND_KINDS) now. Returns whether it started: not while muted, before a gesture
   * created the context, or when the audio graph throws.
   */
  play(kind) {
    if (this.muted || this.ctx === null) return false;
    const synth = SYNTHS[kind];
    if (synth === undefined) return false;
    try {
      synth(this, this.ctx.currentTime);
    } catch {
      this.errors++;
      return false;
    }
    this.counts[kind]++;
    return true;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Synthesis: every sound is a few oscillators or noise bursts, each through its own gain envelope into the master.

const SYNTHS = {
  /** A short falling square chirp over a hiss: a shot leaving. */
  shot(snd, t) {
    tone(snd, t, 'square', 760, 190, 0.09, 0.16);
    noise(snd, t, 0.05, 0.1, 'highpass', 2400);
  },
  /** A bright tick: the shot landed. */
  hit(snd, t) {
    tone(snd, t, 'triangle', 1500, 1150, 0.06, 0.3);
  },
  /** Two rising notes: a kill. */
  kill(snd, t) {
    tone(snd, t, 'sine', 660, 660, 0.12, 0.28);
    tone(snd, t + 0.08, 'sine', 990, 990, 0.2, 0.28);
    tone(snd, t + 0.08, 'triangle', 1980, 1980, 0.12, 0.06);
  },
  /** A low falling growl through muffled noise: the own player was hit. */
  hurt(snd, t) {
    tone(snd, t, 'sawtooth', 190, 60, 0.22, 0.2);
    noise(snd, t, 0.18, 0.22, 'lowpass', 900);
  },
};

/** An oscillator of `type` gliding from `f0` to `f1` Hz over `dur` seconds from `t`, at `peak` gain. */
function tone(snd, t, type, f0, f1, dur, peak) {
  const ctx = snd.ctx;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = type;
  osc.frequency.setValueAtTime(f0, t);
  if (f1 !== f0) osc.frequency.exponentialRampToValueAtTime(f1, t + dur);
  envelope(gain.gain, t, peak, dur);
  osc.connect(gain);
  gain.connect(snd.master);
  osc.start(t);
  osc.stop(t + dur + 0.02);
}

/** A burst of white noise through a `filterType` biquad at `freq` Hz, `dur` seconds from `t`, at `peak` gain. */
function noise(snd, t, dur, peak, filterType, freq) {
  const ctx = snd.ctx;
  const src = ctx.createBufferSource();
  src.buffer = noiseBuffer(snd);
  const filter = ctx.createBiquadFilter();
  filter.type = filterType;
  filter.frequency.setValueAtTime(freq, t);
  const gain = ctx.createGain();
  envelope(gain.gain, t, peak, dur);
  src.connect(filter);
  filter.connect(gain);
  gain.connect(snd.master);
  src.start(t);
  src.stop(t + dur + 0.02);
}

/** A gain rising to `peak` in ATTACK, then falling exponentially to silence at `t + dur`. */
function envelope(param, t, peak, dur) {
  param.setValueAtTime(SILENT, t);
  param.exponentialRampToValueAtTime(peak, t + ATTACK);
  param.exponentialRampToValueAtTime(SILENT, t + dur);
}

/** The context's white-noise buffer, made on first use (a fixed seed: the same noise every time). */
function noiseBuffer(snd) {
  if (snd.noise === null) {
    const ctx = snd.ctx;
    const length = Math.max(1, Math.floor(ctx.sampleRate * NOISE_SECONDS));
    const buffer = ctx.createBuffer(1, length, ctx.sampleRate);
    const data = buffer.getChannelData(0);
    let seed = 0x2545f491;
    for (let i = 0; i < length; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      data[i] = seed / 0x80000000 - 1;
    }
    snd.noise = buffer;
  }
  return snd.noise;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The HUD's mute button, `#mute`: shows the state (its text, `aria-pressed` "true" while muted) and flips it on a
 * click, as the M key does. A click must not leave the focus on it (keys typed while a button has the focus are not
 * the game's, input.js), so a mouse press does not focus it and a click gives the focus back. `onChange(muted)` is
 * called after each flip.
 */
export class MuteButton {
  constructor(doc, sounds, onChange = null) {
    this.sounds = sounds;
    this.onChange = onChange;
    this.button = doc.getElementById('mute');
    if (this.button === null) return;
    this.button.addEventListener('mousedown', (e) => e.preventDefault());
    this.button.addEventListener('click', () => {
      this.sounds.toggleMuted();
      this.sync();
      if (typeof this.button.blur === 'function') this.button.blur();
      if (this.onChange !== null) this.onChange(this.sounds.muted);
    });
    this.sync();
  }

  /** Shows the current mute state (after the M key changed it, say). */
  sync() {
    const b = this.button;
    if (b === null) return;
    const muted = this.sounds.muted;
    const text = muted ? 'Sound: off' : 'Sound: on';
    if (b.textContent !== text) b.textContent = text;
    b.setAttribute('aria-pressed', muted ? 'true' : 'false');
    b.title = muted ? 'Unmute (M)' : 'Mute (M)';
  }

  /** Shows or hides the button (shown while in a room); cheap to call every frame. */
  show(visible) {
    if (this.button !== null && this.button.hidden === visible) this.button.hidden = !visible;
  }
}
