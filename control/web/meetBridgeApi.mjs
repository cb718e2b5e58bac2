/* meetBridgeApi.mjs — the Client API library as an ES module:
 *   import MeetIframeBridge from 'https://meet.example.com/meetBridgeApi.mjs';
 *   const bridge = new MeetIframeBridge({ element: iframe, roomId: 'serv0abc' });
 * Same code as /meetBridgeApi.js (it also sets globalThis.MeetIframeBridge). */
import './meetBridgeApi.js';

const api = globalThis.MeetIframeBridge;
export const MeetIframeBridge = api.default;
export default api.default;
