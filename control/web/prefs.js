/* meet — what the call page remembers in localStorage between visits: the name typed on the welcome
 * screen, the chosen camera and microphone, the grid or speaker view and whether one's own tile is shown.
 * Private browsing may refuse storage: reads give null, writes are dropped. */

/** The localStorage key of each remembered choice. */
export const PREF = Object.freeze({
  name: 'meet.displayName',
  camera: 'meet.cameraId',
  microphone: 'meet.micId',
  view: 'meet.view',
  selfView: 'meet.selfView'
});

export function readPref(key) {
  try { return window.localStorage.getItem(key); } catch (e) { return null; }
}

export function writePref(key, value) {
  try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ }
}
