/* meet — strings of the call page's people-facing features (issue 19: accessible names, filmstrip,
 * webinar links and waiting state), merged into MeetI18n's dictionary like i18n-room.js. Every key
 * exists in every language (test_call_page.py checks). */
(function () {
  'use strict';

  var PAGE = {
    en: {
      'view.speaker': 'Speaker view',
      'call.frozen': 'Video stopped: connection problem',
      'common.cancel': 'Cancel',
      'mod.removeOk': 'Remove',
      'call.pinName': 'Pin {name}',
      'call.unpinName': 'Unpin {name}',
      'hand.show': 'Show',
      'new.speakerLink': 'Speaker link',
      'new.speakerHint': 'For you and the presenters: camera, microphone and screen sharing.',
      'new.viewerLink': 'Viewer link',
      'new.viewerHint': 'For the audience: they watch, listen and can raise a hand.',
      'new.joinSpeaker': 'Join as speaker',
      'new.copySpeaker': 'Copy the speaker link',
      'new.copyViewer': 'Copy the viewer link',
      'webinar.notStartedTitle': 'The webinar has not started yet',
      'webinar.notStartedText': 'It starts as soon as a speaker joins. Stay on this page.',
      'webinar.watching': { one: '{n} person is watching', other: '{n} people are watching' }
    },
    fr: {
      'view.speaker': 'Vue intervenant',
      'call.frozen': 'Vidéo figée : problème de connexion',
      'common.cancel': 'Annuler',
      'mod.removeOk': 'Retirer',
      'call.pinName': 'Épingler {name}',
      'call.unpinName': 'Désépingler {name}',
      'hand.show': 'Afficher',
      'new.speakerLink': 'Lien des intervenants',
      'new.speakerHint': 'Pour vous et les intervenants : caméra, micro et partage d’écran.',
      'new.viewerLink': 'Lien des spectateurs',
      'new.viewerHint': 'Pour le public : il regarde, écoute et peut lever la main.',
      'new.joinSpeaker': 'Rejoindre en intervenant',
      'new.copySpeaker': 'Copier le lien des intervenants',
      'new.copyViewer': 'Copier le lien des spectateurs',
      'webinar.notStartedTitle': 'Le webinaire n’a pas encore commencé',
      'webinar.notStartedText': 'Il commence dès qu’un intervenant arrive. Restez sur cette page.',
      'webinar.watching': { one: '{n} personne regarde', other: '{n} personnes regardent' }
    },
    de: {
      'view.speaker': 'Sprecheransicht',
      'call.frozen': 'Video angehalten: Verbindungsproblem',
      'common.cancel': 'Abbrechen',
      'mod.removeOk': 'Entfernen',
      'call.pinName': '{name} anheften',
      'call.unpinName': '{name} lösen',
      'hand.show': 'Anzeigen',
      'new.speakerLink': 'Link für Vortragende',
      'new.speakerHint': 'Für Sie und die Vortragenden: Kamera, Mikrofon und Bildschirmfreigabe.',
      'new.viewerLink': 'Link für Zuschauer',
      'new.viewerHint': 'Für das Publikum: zuschauen, zuhören und die Hand heben.',
      'new.joinSpeaker': 'Als Vortragende(r) beitreten',
      'new.copySpeaker': 'Link für Vortragende kopieren',
      'new.copyViewer': 'Link für Zuschauer kopieren',
      'webinar.notStartedTitle': 'Das Webinar hat noch nicht begonnen',
      'webinar.notStartedText': 'Es beginnt, sobald eine vortragende Person beitritt. Bleiben Sie auf dieser Seite.',
      'webinar.watching': { one: '{n} Person schaut zu', other: '{n} Personen schauen zu' }
    },
    lb: {
      'view.speaker': 'Riednervue',
      'call.frozen': 'Video ugehalen: Verbindungsproblem',
      'common.cancel': 'Ofbriechen',
      'mod.removeOk': 'Eraushuelen',
      'call.pinName': '{name} fixéieren',
      'call.unpinName': '{name} net méi fixéieren',
      'hand.show': 'Weisen',
      'new.speakerLink': 'Link fir d’Riedner',
      'new.speakerHint': 'Fir Iech an d’Riedner: Kamera, Mikro an Ecran deelen.',
      'new.viewerLink': 'Link fir d’Zuschauer',
      'new.viewerHint': 'Fir de Public: kucken, nolauschteren an d’Hand ophiewen.',
      'new.joinSpeaker': 'Als Riedner bäitrieden',
      'new.copySpeaker': 'Link fir d’Riedner kopéieren',
      'new.copyViewer': 'Link fir d’Zuschauer kopéieren',
      'webinar.notStartedTitle': 'De Webinar huet nach net ugefaangen',
      'webinar.notStartedText': 'En fänkt un, soubal e Riedner bäitrëtt. Bleift op dëser Säit.',
      'webinar.watching': { one: '{n} Persoun kuckt no', other: '{n} Persoune kucken no' }
    },
    ru: {
      'view.speaker': 'Вид докладчика',
      'call.frozen': 'Видео остановилось: проблема со связью',
      'common.cancel': 'Отмена',
      'mod.removeOk': 'Удалить',
      'call.pinName': 'Закрепить: {name}',
      'call.unpinName': 'Открепить: {name}',
      'hand.show': 'Показать',
      'new.speakerLink': 'Ссылка для выступающих',
      'new.speakerHint': 'Для вас и выступающих: камера, микрофон и демонстрация экрана.',
      'new.viewerLink': 'Ссылка для зрителей',
      'new.viewerHint': 'Для зрителей: смотреть, слушать и поднимать руку.',
      'new.joinSpeaker': 'Войти как выступающий',
      'new.copySpeaker': 'Копировать ссылку для выступающих',
      'new.copyViewer': 'Копировать ссылку для зрителей',
      'webinar.notStartedTitle': 'Вебинар ещё не начался',
      'webinar.notStartedText': 'Он начнётся, как только подключится выступающий. Оставайтесь на этой странице.',
      'webinar.watching': { one: '{n} зритель смотрит', few: '{n} зрителя смотрят', many: '{n} зрителей смотрят', other: '{n} зрителя смотрят' }
    }
  };

  var dict = window.MeetI18n && window.MeetI18n.dict;
  if (!dict) return;
  Object.keys(PAGE).forEach(function (l) {
    dict[l] = dict[l] || {};
    Object.keys(PAGE[l]).forEach(function (k) { dict[l][k] = PAGE[l][k]; });
  });
})();
