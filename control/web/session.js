/* meet — this participant and the room, as the page and the server know them: the page's state
 * (document.body.dataset.state mirrors it), the room and peer IDs, the display name, whether the
 * session is joined, the page's mode, the role the server gives (`joined.you` / `youUpdated`), the
 * raised hand and the room's settings (`roomUpdated`).
 *
 * Read through `session` (getters only); changed through the setters below, by the modules that learn
 * the facts: signalling.js (the page state, the peer ID, joined, the name at join), room-features.js
 * (the role, the hand, the room), client-api.js (changeDisplayName).
 */
import { roomAttributes, tokenClaims } from './attributes.js';

var mode = /^\/webinar(\/|$)/.test(location.pathname) ? 'webinar' : 'call';

var current = {
  pageState: 'welcome',          // 'welcome', 'joining', 'in-call', 'waiting', 'reconnecting', 'left', 'closed'
  peerId: roomAttributes.peerId,
  roomId: roomAttributes.roomId,
  displayName: '',
  // A name given by the room URL, the token or the Client API (changeDisplayName): it wins over the typed one.
  presetName: tokenClaims.displayName || roomAttributes.displayName,
  joined: false,
  you: null,                     // joined.you / youUpdated: the server's word on this participant
  // May publish (call, webinar speaker, moderator). Until the server says, a guess: a webinar viewer
  // publishes nothing and gets no tile; the token's itisparticipant wins over the URL's.
  speaker: mode === 'call' || tokenClaims.moderator ||
    (tokenClaims.itisparticipant !== undefined ? tokenClaims.itisparticipant : roomAttributes.itisparticipant),
  hand: false,
  room: { waitingRoom: false, videoUrl: null, viewers: 0 }
};

/** Read-only view of the session. */
export const session = Object.freeze({
  get pageState() { return current.pageState; },
  get peerId() { return current.peerId; },
  get roomId() { return current.roomId; },
  get displayName() { return current.displayName; },
  get presetName() { return current.presetName; },
  get joined() { return current.joined; },
  get mode() { return mode; },
  get you() { return current.you; },
  get speaker() { return current.speaker; },
  get moderator() { return !!(current.you && current.you.moderator); },
  get hand() { return current.hand; },
  get room() { return current.room; }
});

export function setPageState(state) {
  current.pageState = state;
  document.body.dataset.state = state;
}

export function setPeerId(id) { current.peerId = id; }
export function setDisplayName(name) { current.displayName = name; }
export function setPresetName(name) { current.presetName = name; }
export function setJoined(joined) { current.joined = joined; }
export function setHand(raised) { current.hand = raised; }
export function setRoom(room) { current.room = room; }

/** The server's word on this participant (`joined.you`, `youUpdated`): its role and rights. */
export function setYou(you) {
  current.you = you;
  current.speaker = !!you.speaker;
}
