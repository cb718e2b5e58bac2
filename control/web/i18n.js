/* meet — interface strings and language selection (an ES module).
 *
 * Every visible string of the web client lives in DICT below, plus the tables that i18n-room.js and
 * i18n-page.js add with addStrings(). Pages mark translatable elements with data-i18n (text),
 * data-i18n-aria (aria-label), data-i18n-title (title) and data-i18n-placeholder (placeholder);
 * scripts import t(key, vars). Language: `lang` URL attribute if supported, else navigator.languages,
 * else English. An unsupported `lang` falls back to English with a console warning. `lang` is a live
 * binding: importers see setLang()'s change.
 */
var DICT = {
  en: {
    'brand': 'meet',
    'new.pageTitle': 'meet — video meetings',
    'new.headline': 'Video meetings on your own server',
    'new.lead': 'Create a room, share the link and talk — right in the browser. No installs, no accounts.',
    'new.create': 'Create conference',
    'new.webinar': 'Create a webinar link',
    'new.roomLink': 'Room link',
    'new.copy': 'Copy',
    'new.copied': 'Copied',
    'new.copyFailed': 'Copy failed — select the link and copy it manually',
    'new.join': 'Join',
    'new.hint': 'Anyone with this link can join. The room is created when the first person enters.',
    'new.f1t': 'Private by design',
    'new.f1': 'Media is relayed by your server — nothing leaves your infrastructure.',
    'new.f2t': 'Right in the browser',
    'new.f2': 'Chrome, Firefox, Safari and Edge on desktop and mobile.',
    'new.f3t': 'Calls and webinars',
    'new.f3': 'Talk together, or present to a large audience.',
    'mode.call': 'Video call',
    'mode.webinar': 'Webinar',
    'welcome.heading': 'Ready to join?',
    'welcome.headingWebinar': 'Ready to join the webinar?',
    'welcome.room': 'Room',
    'welcome.name': 'Your name',
    'welcome.namePlaceholder': 'Enter your name',
    'welcome.nameLocked': 'Your name is set by the meeting link.',
    'welcome.camera': 'Camera',
    'welcome.mic': 'Microphone',
    'welcome.noCamera': 'No camera found',
    'welcome.noMic': 'No microphone found',
    'welcome.cameraN': 'Camera {n}',
    'welcome.micN': 'Microphone {n}',
    'welcome.join': 'Join now',
    'welcome.joining': 'Joining…',
    'welcome.camOff': 'Camera is off',
    'welcome.starting': 'Starting camera…',
    'media.denied': 'Access to the camera and microphone was blocked. Allow it in your browser’s site settings and reload, or join without them.',
    'media.notFound': 'No camera or microphone was found. You can still join to watch and listen.',
    'media.insecure': 'The camera and microphone are only available over a secure (HTTPS) connection. You can still join to watch and listen.',
    'media.failed': 'Your camera or microphone could not be started. It may be in use by another app. You can still join without them.',
    'media.camUnavailable': 'The camera is not available. You can join with your microphone only.',
    'media.micUnavailable': 'The microphone is not available. You can join with your camera only.',
    'media.camError': 'Could not turn on the camera.',
    'media.micError': 'Could not turn on the microphone.',
    'media.camEnded': 'The camera stopped.',
    'media.micEnded': 'The microphone stopped.',
    'ctl.micOff': 'Turn off microphone',
    'ctl.micOn': 'Turn on microphone',
    'ctl.camOff': 'Turn off camera',
    'ctl.camOn': 'Turn on camera',
    'ctl.leave': 'Leave call',
    'ctl.leaveShort': 'Leave',
    'call.participants': { one: '{n} participant', other: '{n} participants' },
    'call.youSuffix': '{name} (you)',
    'call.copyLink': 'Copy invite link',
    'call.copyLinkShort': 'Invite',
    'call.linkCopied': 'Invite link copied',
    'call.alone': 'You’re the only one here. Share the link to invite others.',
    'call.peerJoined': '{name} joined',
    'call.peerLeft': '{name} left',
    'call.micMuted': 'Microphone off',
    'call.audioOnly': 'Audio only: weak connection',
    'call.guest': 'Guest',
    'call.unmute': 'Sound is blocked by the browser. Click to turn it on.',
    'call.mediaFailed': 'The media connection failed. Try reconnecting.',
    'call.error': 'Error: {message}',
    'left.title': 'You left the meeting',
    'left.text': 'Thanks for joining. You can rejoin while the meeting is still going.',
    'left.rejoin': 'Rejoin',
    'left.home': 'Create a new meeting',
    'closed.title': 'Your session has ended',
    'closed.replaced': 'You joined this meeting from another tab or device, so this window was disconnected.',
    'closed.default': 'The server ended this session.',
    'lost.title': 'Connection lost',
    'lost.text': 'The connection to the server was interrupted. Check your network and reconnect.',
    'lost.reconnect': 'Reconnect',
    'reconnect.title': 'Reconnecting…',
    'reconnect.server': 'The connection to the server was interrupted. Your call stays open.',
    'reconnect.media': 'Audio and video will be back in a moment.',
    'join.connectFailed': 'Could not connect to the server. Please try again.',
    'join.refused': 'Could not join: {message}',
    'room.missingTitle': 'No room in this link',
    'room.missingText': 'The link you opened doesn’t include a room ID. Create a new meeting to get a link you can share.',
    'room.invalidTitle': 'This room link is not valid',
    'room.invalidText': 'The room ID in this link is too long or malformed.',
    'room.create': 'Create a meeting',
    'common.close': 'Close'
  },

  fr: {
    'brand': 'meet',
    'new.pageTitle': 'meet — réunions vidéo',
    'new.headline': 'Des réunions vidéo sur votre propre serveur',
    'new.lead': 'Créez une salle, partagez le lien et discutez, directement dans le navigateur. Sans installation, sans compte.',
    'new.create': 'Créer une conférence',
    'new.webinar': 'Créer un lien de webinaire',
    'new.roomLink': 'Lien de la salle',
    'new.copy': 'Copier',
    'new.copied': 'Copié',
    'new.copyFailed': 'Échec de la copie : sélectionnez le lien et copiez-le manuellement',
    'new.join': 'Rejoindre',
    'new.hint': 'Toute personne disposant de ce lien peut rejoindre. La salle est créée à l’arrivée du premier participant.',
    'new.f1t': 'Privé par conception',
    'new.f1': 'Les médias transitent par votre serveur : rien ne quitte votre infrastructure.',
    'new.f2t': 'Directement dans le navigateur',
    'new.f2': 'Chrome, Firefox, Safari et Edge, sur ordinateur et sur mobile.',
    'new.f3t': 'Appels et webinaires',
    'new.f3': 'Discutez ensemble ou présentez devant un large public.',
    'mode.call': 'Appel vidéo',
    'mode.webinar': 'Webinaire',
    'welcome.heading': 'Prêt à rejoindre ?',
    'welcome.headingWebinar': 'Prêt à rejoindre le webinaire ?',
    'welcome.room': 'Salle',
    'welcome.name': 'Votre nom',
    'welcome.namePlaceholder': 'Saisissez votre nom',
    'welcome.nameLocked': 'Votre nom est défini par le lien de la réunion.',
    'welcome.camera': 'Caméra',
    'welcome.mic': 'Microphone',
    'welcome.noCamera': 'Aucune caméra trouvée',
    'welcome.noMic': 'Aucun microphone trouvé',
    'welcome.cameraN': 'Caméra {n}',
    'welcome.micN': 'Microphone {n}',
    'welcome.join': 'Participer',
    'welcome.joining': 'Connexion…',
    'welcome.camOff': 'La caméra est désactivée',
    'welcome.starting': 'Démarrage de la caméra…',
    'media.denied': 'L’accès à la caméra et au microphone a été bloqué. Autorisez-le dans les paramètres du site de votre navigateur puis rechargez la page, ou rejoignez sans eux.',
    'media.notFound': 'Aucune caméra ni aucun microphone n’a été trouvé. Vous pouvez tout de même rejoindre pour regarder et écouter.',
    'media.insecure': 'La caméra et le microphone ne sont disponibles que via une connexion sécurisée (HTTPS). Vous pouvez tout de même rejoindre pour regarder et écouter.',
    'media.failed': 'Impossible de démarrer la caméra ou le microphone. Ils sont peut-être utilisés par une autre application. Vous pouvez rejoindre sans eux.',
    'media.camUnavailable': 'La caméra n’est pas disponible. Vous pouvez rejoindre avec le microphone seulement.',
    'media.micUnavailable': 'Le microphone n’est pas disponible. Vous pouvez rejoindre avec la caméra seulement.',
    'media.camError': 'Impossible d’activer la caméra.',
    'media.micError': 'Impossible d’activer le microphone.',
    'media.camEnded': 'La caméra s’est arrêtée.',
    'media.micEnded': 'Le microphone s’est arrêté.',
    'ctl.micOff': 'Couper le microphone',
    'ctl.micOn': 'Activer le microphone',
    'ctl.camOff': 'Désactiver la caméra',
    'ctl.camOn': 'Activer la caméra',
    'ctl.leave': 'Quitter l’appel',
    'ctl.leaveShort': 'Quitter',
    'call.participants': { one: '{n} participant', other: '{n} participants' },
    'call.youSuffix': '{name} (vous)',
    'call.copyLink': 'Copier le lien d’invitation',
    'call.copyLinkShort': 'Inviter',
    'call.linkCopied': 'Lien d’invitation copié',
    'call.alone': 'Vous êtes seul ici. Partagez le lien pour inviter d’autres personnes.',
    'call.peerJoined': '{name} a rejoint l’appel',
    'call.peerLeft': '{name} a quitté l’appel',
    'call.micMuted': 'Microphone coupé',
    'call.audioOnly': 'Audio seul : connexion faible',
    'call.guest': 'Invité',
    'call.unmute': 'Le son est bloqué par le navigateur. Cliquez pour l’activer.',
    'call.mediaFailed': 'La connexion média a échoué. Essayez de vous reconnecter.',
    'call.error': 'Erreur : {message}',
    'left.title': 'Vous avez quitté la réunion',
    'left.text': 'Merci d’avoir participé. Vous pouvez revenir tant que la réunion est en cours.',
    'left.rejoin': 'Rejoindre à nouveau',
    'left.home': 'Créer une nouvelle réunion',
    'closed.title': 'Votre session est terminée',
    'closed.replaced': 'Vous avez rejoint cette réunion depuis un autre onglet ou appareil ; cette fenêtre a donc été déconnectée.',
    'closed.default': 'Le serveur a mis fin à cette session.',
    'lost.title': 'Connexion perdue',
    'lost.text': 'La connexion au serveur a été interrompue. Vérifiez votre réseau puis reconnectez-vous.',
    'lost.reconnect': 'Se reconnecter',
    'reconnect.title': 'Reconnexion…',
    'reconnect.server': 'La connexion au serveur a été interrompue. Votre appel reste ouvert.',
    'reconnect.media': 'Le son et la vidéo reviennent dans un instant.',
    'join.connectFailed': 'Impossible de se connecter au serveur. Veuillez réessayer.',
    'join.refused': 'Impossible de rejoindre : {message}',
    'room.missingTitle': 'Aucune salle dans ce lien',
    'room.missingText': 'Le lien que vous avez ouvert ne contient pas d’identifiant de salle. Créez une nouvelle réunion pour obtenir un lien à partager.',
    'room.invalidTitle': 'Ce lien de salle n’est pas valide',
    'room.invalidText': 'L’identifiant de salle de ce lien est trop long ou mal formé.',
    'room.create': 'Créer une réunion',
    'common.close': 'Fermer'
  },

  de: {
    'brand': 'meet',
    'new.pageTitle': 'meet — Videokonferenzen',
    'new.headline': 'Videokonferenzen auf Ihrem eigenen Server',
    'new.lead': 'Raum erstellen, Link teilen und direkt im Browser sprechen. Ohne Installation, ohne Konto.',
    'new.create': 'Konferenz erstellen',
    'new.webinar': 'Webinar-Link erstellen',
    'new.roomLink': 'Raumlink',
    'new.copy': 'Kopieren',
    'new.copied': 'Kopiert',
    'new.copyFailed': 'Kopieren fehlgeschlagen – Link markieren und manuell kopieren',
    'new.join': 'Beitreten',
    'new.hint': 'Alle Personen mit diesem Link können teilnehmen. Der Raum entsteht, sobald die erste Person ihn betritt.',
    'new.f1t': 'Datenschutz von Anfang an',
    'new.f1': 'Medien laufen über Ihren Server – nichts verlässt Ihre Infrastruktur.',
    'new.f2t': 'Direkt im Browser',
    'new.f2': 'Chrome, Firefox, Safari und Edge auf Desktop- und Mobilgeräten.',
    'new.f3t': 'Anrufe und Webinare',
    'new.f3': 'Gemeinsam sprechen oder vor großem Publikum präsentieren.',
    'mode.call': 'Videoanruf',
    'mode.webinar': 'Webinar',
    'welcome.heading': 'Bereit zum Beitreten?',
    'welcome.headingWebinar': 'Bereit, dem Webinar beizutreten?',
    'welcome.room': 'Raum',
    'welcome.name': 'Ihr Name',
    'welcome.namePlaceholder': 'Namen eingeben',
    'welcome.nameLocked': 'Ihr Name wird durch den Besprechungslink festgelegt.',
    'welcome.camera': 'Kamera',
    'welcome.mic': 'Mikrofon',
    'welcome.noCamera': 'Keine Kamera gefunden',
    'welcome.noMic': 'Kein Mikrofon gefunden',
    'welcome.cameraN': 'Kamera {n}',
    'welcome.micN': 'Mikrofon {n}',
    'welcome.join': 'Jetzt teilnehmen',
    'welcome.joining': 'Verbindung wird hergestellt…',
    'welcome.camOff': 'Kamera ist ausgeschaltet',
    'welcome.starting': 'Kamera wird gestartet…',
    'media.denied': 'Der Zugriff auf Kamera und Mikrofon wurde blockiert. Erlauben Sie ihn in den Website-Einstellungen Ihres Browsers und laden Sie die Seite neu, oder nehmen Sie ohne Geräte teil.',
    'media.notFound': 'Es wurde weder eine Kamera noch ein Mikrofon gefunden. Sie können trotzdem teilnehmen, um zuzusehen und zuzuhören.',
    'media.insecure': 'Kamera und Mikrofon sind nur über eine sichere Verbindung (HTTPS) verfügbar. Sie können trotzdem teilnehmen, um zuzusehen und zuzuhören.',
    'media.failed': 'Kamera oder Mikrofon konnte nicht gestartet werden. Möglicherweise werden sie von einer anderen Anwendung verwendet. Sie können auch ohne sie teilnehmen.',
    'media.camUnavailable': 'Die Kamera ist nicht verfügbar. Sie können nur mit dem Mikrofon teilnehmen.',
    'media.micUnavailable': 'Das Mikrofon ist nicht verfügbar. Sie können nur mit der Kamera teilnehmen.',
    'media.camError': 'Die Kamera konnte nicht eingeschaltet werden.',
    'media.micError': 'Das Mikrofon konnte nicht eingeschaltet werden.',
    'media.camEnded': 'Die Kameraübertragung wurde beendet.',
    'media.micEnded': 'Die Mikrofonübertragung wurde beendet.',
    'ctl.micOff': 'Mikrofon ausschalten',
    'ctl.micOn': 'Mikrofon einschalten',
    'ctl.camOff': 'Kamera ausschalten',
    'ctl.camOn': 'Kamera einschalten',
    'ctl.leave': 'Anruf verlassen',
    'ctl.leaveShort': 'Verlassen',
    'call.participants': { one: '{n} Teilnehmer', other: '{n} Teilnehmer' },
    'call.youSuffix': '{name} (Sie)',
    'call.copyLink': 'Einladungslink kopieren',
    'call.copyLinkShort': 'Einladen',
    'call.linkCopied': 'Einladungslink kopiert',
    'call.alone': 'Sie sind noch allein hier. Teilen Sie den Link, um andere einzuladen.',
    'call.peerJoined': '{name} ist beigetreten',
    'call.peerLeft': '{name} hat den Anruf verlassen',
    'call.micMuted': 'Mikrofon aus',
    'call.audioOnly': 'Nur Audio: schwache Verbindung',
    'call.guest': 'Gast',
    'call.unmute': 'Der Ton wird vom Browser blockiert. Klicken Sie, um ihn einzuschalten.',
    'call.mediaFailed': 'Die Medienverbindung ist fehlgeschlagen. Versuchen Sie, sich erneut zu verbinden.',
    'call.error': 'Fehler: {message}',
    'left.title': 'Sie haben die Besprechung verlassen',
    'left.text': 'Danke für Ihre Teilnahme. Sie können wieder beitreten, solange die Besprechung läuft.',
    'left.rejoin': 'Erneut beitreten',
    'left.home': 'Neue Besprechung erstellen',
    'closed.title': 'Ihre Sitzung wurde beendet',
    'closed.replaced': 'Sie sind dieser Besprechung in einem anderen Tab oder auf einem anderen Gerät beigetreten, daher wurde dieses Fenster getrennt.',
    'closed.default': 'Der Server hat diese Sitzung beendet.',
    'lost.title': 'Verbindung unterbrochen',
    'lost.text': 'Die Verbindung zum Server wurde unterbrochen. Prüfen Sie Ihre Netzwerkverbindung und verbinden Sie sich erneut.',
    'lost.reconnect': 'Erneut verbinden',
    'reconnect.title': 'Verbindung wird wiederhergestellt…',
    'reconnect.server': 'Die Verbindung zum Server wurde unterbrochen. Ihr Anruf bleibt bestehen.',
    'reconnect.media': 'Ton und Bild sind gleich wieder da.',
    'join.connectFailed': 'Die Verbindung zum Server ist fehlgeschlagen. Bitte versuchen Sie es erneut.',
    'join.refused': 'Beitritt nicht möglich: {message}',
    'room.missingTitle': 'Kein Raum in diesem Link',
    'room.missingText': 'Der geöffnete Link enthält keine Raum-ID. Erstellen Sie eine neue Besprechung, um einen Link zum Teilen zu erhalten.',
    'room.invalidTitle': 'Dieser Raumlink ist ungültig',
    'room.invalidText': 'Die Raum-ID in diesem Link ist zu lang oder fehlerhaft.',
    'room.create': 'Besprechung erstellen',
    'common.close': 'Schließen'
  },

  lb: {
    'brand': 'meet',
    'new.pageTitle': 'meet — Videokonferenzen',
    'new.headline': 'Videokonferenzen op Ärem eegene Server',
    'new.lead': 'Erstellt e Raum, deelt de Link a schwätzt direkt am Browser. Ouni Installatioun, ouni Kont.',
    'new.create': 'Konferenz erstellen',
    'new.webinar': 'Webinar-Link erstellen',
    'new.roomLink': 'Link vum Raum',
    'new.copy': 'Kopéieren',
    'new.copied': 'Kopéiert',
    'new.copyFailed': 'Kopéieren huet net geklappt – markéiert de Link a kopéiert en manuell',
    'new.join': 'Bäitrieden',
    'new.hint': 'Jiddereen, deen dëse Link huet, kann derbäi sinn. De Raum gëtt erstallt, soubal déi éischt Persoun erakënnt.',
    'new.f1t': 'Dateschutz vun Ufank un',
    'new.f1': 'D’Medie lafen iwwer Äre Server – näischt verléisst Är Infrastruktur.',
    'new.f2t': 'Direkt am Browser',
    'new.f2': 'Chrome, Firefox, Safari an Edge um Computer an um Handy.',
    'new.f3t': 'Uriff a Webinaren',
    'new.f3': 'Zesumme schwätzen oder virun engem grousse Publikum presentéieren.',
    'mode.call': 'Videoappell',
    'mode.webinar': 'Webinar',
    'welcome.heading': 'Prett fir bäizetrieden?',
    'welcome.headingWebinar': 'Prett fir dem Webinar bäizetrieden?',
    'welcome.room': 'Raum',
    'welcome.name': 'Ären Numm',
    'welcome.namePlaceholder': 'Gitt Ären Numm an',
    'welcome.nameLocked': 'Ären Numm gëtt vum Link vun der Reunioun festgeluecht.',
    'welcome.camera': 'Kamera',
    'welcome.mic': 'Mikro',
    'welcome.noCamera': 'Keng Kamera fonnt',
    'welcome.noMic': 'Kee Mikro fonnt',
    'welcome.cameraN': 'Kamera {n}',
    'welcome.micN': 'Mikro {n}',
    'welcome.join': 'Elo bäitrieden',
    'welcome.joining': 'Verbannen…',
    'welcome.camOff': 'D’Kamera ass aus',
    'welcome.starting': 'Kamera gëtt gestart…',
    'media.denied': 'Den Zougrëff op Kamera a Mikro gouf blockéiert. Erlaabt en an den Astellunge vum Browser a luet d’Säit nei, oder triet ouni si bäi.',
    'media.notFound': 'Et gouf keng Kamera a kee Mikro fonnt. Dir kënnt trotzdeem bäitrieden, fir nozekucken an nozelauschteren.',
    'media.insecure': 'Kamera a Mikro sinn nëmmen iwwer eng sécher Verbindung (HTTPS) disponibel. Dir kënnt trotzdeem bäitrieden, fir nozekucken an nozelauschteren.',
    'media.failed': 'Kamera oder Mikro konnten net gestart ginn. Vläicht gi se vun enger anerer App benotzt. Dir kënnt och ouni si bäitrieden.',
    'media.camUnavailable': 'D’Kamera ass net disponibel. Dir kënnt just mam Mikro bäitrieden.',
    'media.micUnavailable': 'De Mikro ass net disponibel. Dir kënnt just mat der Kamera bäitrieden.',
    'media.camError': 'D’Kamera konnt net ugeschalt ginn.',
    'media.micError': 'De Mikro konnt net ugeschalt ginn.',
    'media.camEnded': 'D’Kamera huet opgehalen.',
    'media.micEnded': 'De Mikro huet opgehalen.',
    'ctl.micOff': 'Mikro ausschalten',
    'ctl.micOn': 'Mikro uschalten',
    'ctl.camOff': 'Kamera ausschalten',
    'ctl.camOn': 'Kamera uschalten',
    'ctl.leave': 'Uruff verloossen',
    'ctl.leaveShort': 'Verloossen',
    'call.participants': { one: '{n} Participant', other: '{n} Participanten' },
    'call.youSuffix': '{name} (Dir)',
    'call.copyLink': 'Invitatiouns-Link kopéieren',
    'call.copyLinkShort': 'Invitéieren',
    'call.linkCopied': 'Invitatiouns-Link kopéiert',
    'call.alone': 'Dir sidd nach eleng hei. Deelt de Link, fir anerer ze invitéieren.',
    'call.peerJoined': '{name} ass derbäi',
    'call.peerLeft': '{name} ass fort',
    'call.micMuted': 'Mikro aus',
    'call.audioOnly': 'Nëmmen Audio: schwaach Verbindung',
    'call.guest': 'Gaascht',
    'call.unmute': 'Den Toun gëtt vum Browser blockéiert. Klickt, fir en unzeschalten.',
    'call.mediaFailed': 'D’Medienverbindung huet net geklappt. Probéiert, Iech nei ze verbannen.',
    'call.error': 'Feeler: {message}',
    'left.title': 'Dir hutt d’Reunioun verlooss',
    'left.text': 'Merci fir d’Participatioun. Dir kënnt nees bäitrieden, soulaang d’Reunioun leeft.',
    'left.rejoin': 'Nees bäitrieden',
    'left.home': 'Nei Reunioun erstellen',
    'closed.title': 'Är Sessioun ass eriwwer',
    'closed.replaced': 'Dir sidd dëser Reunioun an engem aneren Tab oder op engem aneren Apparat bäigetrueden, dofir gouf dës Fënster getrennt.',
    'closed.default': 'De Server huet dës Sessioun beendet.',
    'lost.title': 'Verbindung verluer',
    'lost.text': 'D’Verbindung mam Server gouf ënnerbrach. Iwwerpréift Äert Netzwierk a verbannt Iech nei.',
    'lost.reconnect': 'Nei verbannen',
    'reconnect.title': 'Verbindung gëtt erëm hiergestallt…',
    'reconnect.server': 'D’Verbindung mam Server gouf ënnerbrach. Ären Uruff bleift op.',
    'reconnect.media': 'Toun a Bild sinn direkt erëm do.',
    'join.connectFailed': 'Et war keng Verbindung mam Server méiglech. Probéiert w.e.g. nach eng Kéier.',
    'join.refused': 'Bäitrieden net méiglech: {message}',
    'room.missingTitle': 'Kee Raum an dësem Link',
    'room.missingText': 'De Link, deen Dir opgemaach hutt, huet keng Raum-ID. Erstellt eng nei Reunioun, fir e Link ze kréien, deen Dir deele kënnt.',
    'room.invalidTitle': 'Dëse Raum-Link ass net gëlteg',
    'room.invalidText': 'D’Raum-ID an dësem Link ass ze laang oder feelerhaft.',
    'room.create': 'Reunioun erstellen',
    'common.close': 'Zoumaachen'
  },

  ru: {
    'brand': 'meet',
    'new.pageTitle': 'meet — видеовстречи',
    'new.headline': 'Видеовстречи на вашем собственном сервере',
    'new.lead': 'Создайте комнату, поделитесь ссылкой и общайтесь прямо в браузере. Без установки и регистрации.',
    'new.create': 'Создать конференцию',
    'new.webinar': 'Создать ссылку на вебинар',
    'new.roomLink': 'Ссылка на комнату',
    'new.copy': 'Копировать',
    'new.copied': 'Скопировано',
    'new.copyFailed': 'Не удалось скопировать — выделите ссылку и скопируйте её вручную',
    'new.join': 'Войти',
    'new.hint': 'Присоединиться может любой, у кого есть эта ссылка. Комната создаётся, когда в неё входит первый участник.',
    'new.f1t': 'Конфиденциальность',
    'new.f1': 'Медиапотоки идут через ваш сервер — ничего не покидает вашу инфраструктуру.',
    'new.f2t': 'Прямо в браузере',
    'new.f2': 'Chrome, Firefox, Safari и Edge на компьютере и телефоне.',
    'new.f3t': 'Звонки и вебинары',
    'new.f3': 'Общайтесь вместе или выступайте перед большой аудиторией.',
    'mode.call': 'Видеозвонок',
    'mode.webinar': 'Вебинар',
    'welcome.heading': 'Готовы присоединиться?',
    'welcome.headingWebinar': 'Готовы присоединиться к вебинару?',
    'welcome.room': 'Комната',
    'welcome.name': 'Ваше имя',
    'welcome.namePlaceholder': 'Введите имя',
    'welcome.nameLocked': 'Имя задано в ссылке на встречу.',
    'welcome.camera': 'Камера',
    'welcome.mic': 'Микрофон',
    'welcome.noCamera': 'Камера не найдена',
    'welcome.noMic': 'Микрофон не найден',
    'welcome.cameraN': 'Камера {n}',
    'welcome.micN': 'Микрофон {n}',
    'welcome.join': 'Присоединиться',
    'welcome.joining': 'Подключение…',
    'welcome.camOff': 'Камера выключена',
    'welcome.starting': 'Включаем камеру…',
    'media.denied': 'Доступ к камере и микрофону заблокирован. Разрешите его в настройках сайта в браузере и перезагрузите страницу или присоединитесь без них.',
    'media.notFound': 'Камера и микрофон не найдены. Вы всё равно можете присоединиться, чтобы смотреть и слушать.',
    'media.insecure': 'Камера и микрофон доступны только через защищённое соединение (HTTPS). Вы всё равно можете присоединиться, чтобы смотреть и слушать.',
    'media.failed': 'Не удалось запустить камеру или микрофон. Возможно, они заняты другим приложением. Вы можете присоединиться без них.',
    'media.camUnavailable': 'Камера недоступна. Вы можете присоединиться только с микрофоном.',
    'media.micUnavailable': 'Микрофон недоступен. Вы можете присоединиться только с камерой.',
    'media.camError': 'Не удалось включить камеру.',
    'media.micError': 'Не удалось включить микрофон.',
    'media.camEnded': 'Камера отключилась.',
    'media.micEnded': 'Микрофон отключился.',
    'ctl.micOff': 'Выключить микрофон',
    'ctl.micOn': 'Включить микрофон',
    'ctl.camOff': 'Выключить камеру',
    'ctl.camOn': 'Включить камеру',
    'ctl.leave': 'Покинуть звонок',
    'ctl.leaveShort': 'Выйти',
    'call.participants': { one: '{n} участник', few: '{n} участника', many: '{n} участников', other: '{n} участника' },
    'call.youSuffix': '{name} (вы)',
    'call.copyLink': 'Скопировать ссылку-приглашение',
    'call.copyLinkShort': 'Пригласить',
    'call.linkCopied': 'Ссылка-приглашение скопирована',
    'call.alone': 'Вы здесь пока одни. Поделитесь ссылкой, чтобы пригласить других.',
    'call.peerJoined': '{name} теперь в звонке',
    'call.peerLeft': '{name} больше не в звонке',
    'call.micMuted': 'Микрофон выключен',
    'call.audioOnly': 'Только звук: слабое соединение',
    'call.guest': 'Гость',
    'call.unmute': 'Браузер заблокировал звук. Нажмите, чтобы включить его.',
    'call.mediaFailed': 'Сбой медиасоединения. Попробуйте переподключиться.',
    'call.error': 'Ошибка: {message}',
    'left.title': 'Вы покинули встречу',
    'left.text': 'Спасибо за участие. Вы можете вернуться, пока встреча продолжается.',
    'left.rejoin': 'Вернуться',
    'left.home': 'Создать новую встречу',
    'closed.title': 'Сеанс завершён',
    'closed.replaced': 'Вы подключились к этой встрече из другой вкладки или с другого устройства, поэтому это окно отключено.',
    'closed.default': 'Сервер завершил этот сеанс.',
    'lost.title': 'Соединение потеряно',
    'lost.text': 'Соединение с сервером прервалось. Проверьте сеть и переподключитесь.',
    'lost.reconnect': 'Переподключиться',
    'reconnect.title': 'Переподключение…',
    'reconnect.server': 'Связь с сервером прервалась. Звонок продолжается.',
    'reconnect.media': 'Звук и видео скоро вернутся.',
    'join.connectFailed': 'Не удалось подключиться к серверу. Попробуйте ещё раз.',
    'join.refused': 'Не удалось присоединиться: {message}',
    'room.missingTitle': 'В ссылке нет комнаты',
    'room.missingText': 'В открытой ссылке нет идентификатора комнаты. Создайте новую встречу, чтобы получить ссылку для приглашения.',
    'room.invalidTitle': 'Ссылка на комнату недействительна',
    'room.invalidText': 'Идентификатор комнаты в ссылке слишком длинный или некорректный.',
    'room.create': 'Создать встречу',
    'common.close': 'Закрыть'
  }
};

var LANGS = ['en', 'fr', 'de', 'lb', 'ru'];

/** The languages the page can show. */
export const languages = LANGS.slice();

/** A URL query parameter, its name matched case-insensitively when the exact one is absent. */
export function urlParam(name) {
  try {
    var sp = new URLSearchParams(window.location.search);
    var v = sp.get(name);
    if (v !== null) return v;
    // Attribute names are matched case-insensitively as a courtesy (peerID, LANG...).
    var lower = name.toLowerCase();
    var found = null;
    sp.forEach(function (val, key) {
      if (found === null && key.toLowerCase() === lower) found = val;
    });
    return found;
  } catch (e) {
    return null;
  }
}

function normalise(code) {
  if (typeof code !== 'string') return null;
  var primary = code.trim().toLowerCase().split(/[-_]/)[0];
  return LANGS.indexOf(primary) >= 0 ? primary : null;
}

function detect() {
  var fromUrl = urlParam('lang');
  if (fromUrl !== null && fromUrl.trim() !== '') {
    var l = normalise(fromUrl);
    if (l) return l;
    console.warn('meet: unsupported lang "' + String(fromUrl).slice(0, 40) +
      '"; supported: ' + LANGS.join(', ') + '. Falling back to en.');
    return 'en';
  }
  var prefs = [];
  try {
    if (navigator.languages && navigator.languages.length) prefs = Array.prototype.slice.call(navigator.languages);
    else if (navigator.language) prefs = [navigator.language];
  } catch (e) { /* ignore */ }
  for (var i = 0; i < prefs.length; i++) {
    var p = normalise(prefs[i]);
    if (p) return p;
  }
  return 'en';
}

/** The language the page shows now. */
export let lang = detect();
var plural;
try { plural = new Intl.PluralRules(lang); } catch (e) { plural = null; }

function format(str, vars) {
  if (!vars) return str;
  return str.replace(/\{(\w+)\}/g, function (m, k) {
    return Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m;
  });
}

function lookup(l, key) {
  var d = DICT[l];
  return d && Object.prototype.hasOwnProperty.call(d, key) ? d[key] : undefined;
}

/** A language's name in the page's language ("de" → "German"), the code itself if unknown. */
export function languageName(code) {
  try {
    var n = new Intl.DisplayNames([lang], { type: 'language' }).of(code);
    if (n) return n.charAt(0).toLocaleUpperCase(lang) + n.slice(1);
  } catch (e) { /* an unknown code or an old browser */ }
  return String(code);
}

/** The string `key` in the page's language (English if it has none), with `{var}`s filled in. */
export function t(key, vars) {
  var v = lookup(lang, key);
  if (v === undefined) v = lookup('en', key);
  if (v === undefined) return key;
  if (typeof v === 'object') {
    var n = vars && typeof vars.n === 'number' ? vars.n : 0;
    var cat = 'other';
    try { if (plural) cat = plural.select(n); } catch (e) { /* ignore */ }
    v = v[cat] || v.other;
  }
  return format(v, vars);
}

/** Translates every marked element under `root`. */
export function apply(root) {
  root = root || document;
  var nodes = root.querySelectorAll('[data-i18n],[data-i18n-aria],[data-i18n-title],[data-i18n-placeholder]');
  for (var i = 0; i < nodes.length; i++) {
    var el = nodes[i];
    if (el.dataset.i18n) el.textContent = t(el.dataset.i18n);
    if (el.dataset.i18nAria) el.setAttribute('aria-label', t(el.dataset.i18nAria));
    if (el.dataset.i18nTitle) el.setAttribute('title', t(el.dataset.i18nTitle));
    if (el.dataset.i18nPlaceholder) el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  }
}

document.documentElement.lang = lang;

/** Switches the language at run time (Client API setLocale); the caller re-applies the page's strings. */
export function setLang(code) {
  var l = normalise(String(code || ''));
  if (!l) return false;
  lang = l;
  try { plural = new Intl.PluralRules(lang); } catch (e) { plural = null; }
  document.documentElement.lang = lang;
  return true;
}

/** Merges a table { lang: { key: string } } into the dictionary (i18n-room.js, i18n-page.js). */
export function addStrings(table) {
  Object.keys(table).forEach(function (l) {
    DICT[l] = DICT[l] || {};
    Object.keys(table[l]).forEach(function (k) { DICT[l][k] = table[l][k]; });
  });
}

/** Every string of every language (the tests check that each key exists in each language). */
export const dict = DICT;
