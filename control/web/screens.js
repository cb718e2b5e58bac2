/* meet — the call page's screens (welcome, call, left, closed, lost, room error, standby, waiting room):
 * which one shows, and the join buttons' busy state while a join is under way. */
import { t } from './i18n.js';

var $ = function (id) { return document.getElementById(id); };
var screens = {
  welcome: $('welcome'), call: $('call'), left: $('left'), closed: $('closed'), lost: $('lost'),
  roomError: $('room-error'), standby: $('standby'), waiting: $('waiting')
};
var joinButtons = [$('join-btn'), $('rejoin'), $('closed-rejoin'), $('reconnect')];
var joinLabel = $('join-btn-label');
var unmuteBanner = $('unmute-banner');

/** Shows the screen `name` (a key of `screens`) and hides the others. */
export function showScreen(name) {
  Object.keys(screens).forEach(function (s) { screens[s].hidden = s !== name; });
  if (name !== 'call') unmuteBanner.hidden = true;
  window.scrollTo(0, 0);
}

/** Whether the call screen shows. */
export function inCallScreen() { return !screens.call.hidden; }

export function setJoinBusy(busy) {
  joinButtons.forEach(function (b) {
    b.disabled = busy;
    b.classList.toggle('busy', busy);
  });
  joinLabel.textContent = busy ? t('welcome.joining') : t('welcome.join');
}
