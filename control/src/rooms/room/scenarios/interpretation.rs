//! Language interpretation scenarios: who hears which channel, the grace period, the moderator's
//! switch, and interpreters' limits.

use super::*;

fn interpreter(lang: &'static str) -> impl FnOnce(&mut JoinRequest) {
    move |r| {
        r.grant.role = GrantRole::Interpreter;
        r.grant.int_lang = Some(lang.into());
        r.grant.feature_interpreters = true;
        r.video = false;
    }
}

fn channels_told(s: &mut Scenario, connection: u64) -> Option<(Vec<String>, Option<String>, Option<&'static str>)> {
    s.take(connection).into_iter().rev().find_map(|m| match m {
        ServerMessage::Interpretation { channels, channel, reason, .. } => Some((channels, channel, reason)),
        _ => None,
    })
}

/// A speaker, interpreters into German and French, and two listeners, all answered.
fn interpreted_call(mode: Mode) -> Scenario {
    let mut s = Scenario::new();
    let in_mode = move |r: &mut JoinRequest| r.mode = mode;
    assert!(s
        .join(1, request("speaker", |r| (in_mode(r), moderator(r), r.grant.feature_interpreters = true).2))
        .is_ok());
    assert!(s.join(2, request("de", |r| (in_mode(r), interpreter("de")(r)).1)).is_ok());
    assert!(s.join(3, request("fr", |r| (in_mode(r), interpreter("fr")(r)).1)).is_ok());
    assert!(s.join(4, request("l1", in_mode)).is_ok());
    assert!(s.join(5, request("l2", in_mode)).is_ok());
    s.answer_all();
    s
}

fn hears(s: &Scenario, listener: &str) -> Vec<&'static str> {
    ["speaker", "de", "fr", "l1", "l2", "de2"]
        .into_iter()
        .filter(|from| *from != listener && s.relay.consumes(ROOM, listener, &format!("{from}/audio")))
        .collect()
}

#[test]
fn listeners_hear_only_the_channel_they_pick() {
    for mode in [Mode::Call, Mode::Webinar] {
        let mut s = interpreted_call(mode);
        let (channels, ..) = channels_told(&mut s, 4).expect("listeners learn the channels");
        assert_eq!(channels, ["de", "fr"], "{mode:?}");
        // Before anyone picks: everyone hears the original, nobody an interpreter.
        assert_eq!(hears(&s, "l1"), if mode == Mode::Call { vec!["speaker", "l2"] } else { vec!["speaker"] });
        let others: &[&str] = if mode == Mode::Call { &["speaker", "l1", "l2"] } else { &["speaker"] };
        assert_eq!(hears(&s, "de"), others, "interpreters hear the original, not each other");
        s.event(RoomEvent::Listen { connection: 4, channel: Some("de".into()), mute_original: false });
        s.answer_all();
        assert!(hears(&s, "l1").contains(&"de") && !hears(&s, "l1").contains(&"fr"), "{mode:?}: {:?}", hears(&s, "l1"));
        assert!(hears(&s, "l1").contains(&"speaker"), "the original beneath");
        s.event(RoomEvent::Listen { connection: 4, channel: Some("de".into()), mute_original: true });
        s.answer_all();
        assert_eq!(hears(&s, "l1"), ["de"], "{mode:?}: the original muted");
        // The other listener, the interpreters: unchanged.
        assert!(!hears(&s, "l2").contains(&"de") && !hears(&s, "l2").contains(&"fr"));
        assert!(
            hears(&s, "fr").contains(&"speaker") && !hears(&s, "fr").contains(&"de"),
            "interpreters hear the original"
        );
        // Back to the original.
        s.event(RoomEvent::Listen { connection: 4, channel: None, mute_original: false });
        s.answer_all();
        assert!(hears(&s, "l1").contains(&"speaker") && !hears(&s, "l1").contains(&"de"));
    }
}

#[test]
fn a_channel_outlives_its_last_interpreter_by_the_grace_period() {
    let mut s = interpreted_call(Mode::Call);
    s.event(RoomEvent::Listen { connection: 4, channel: Some("de".into()), mute_original: true });
    s.answer_all();
    s.take(4);
    s.event(RoomEvent::Leave { connection: 2 });
    assert!(s.room.poll_timeout().is_some(), "the grace period runs");
    // Within the grace period the channel stays, and another interpreter of it keeps it.
    s.advance(Duration::from_secs(10));
    s.event(RoomEvent::Listen { connection: 5, channel: Some("de".into()), mute_original: false });
    assert_eq!(channels_told(&mut s, 5).map(|c| c.1), Some(Some("de".into())));
    assert!(s.join(6, request("de2", interpreter("de"))).is_ok());
    s.answer_all();
    s.advance(Duration::from_secs(30));
    assert!(hears(&s, "l1").contains(&"de2"), "{:?}", hears(&s, "l1"));
    // The last German interpreter leaves for good: 30 s later its listeners are back on the original.
    s.take(3);
    s.event(RoomEvent::Leave { connection: 6 });
    s.advance(Duration::from_secs(29));
    assert_eq!(channels_told(&mut s, 3), None, "nothing changed yet");
    s.advance(Duration::from_secs(2));
    assert_eq!(channels_told(&mut s, 4), Some((vec!["fr".into()], None, Some("channel-gone"))));
    assert_eq!(channels_told(&mut s, 3), Some((vec!["fr".into()], None, None)));
    s.answer_all();
    assert!(hears(&s, "l1").contains(&"speaker"), "muted original back: {:?}", hears(&s, "l1"));
    s.event(RoomEvent::Listen { connection: 4, channel: Some("de".into()), mute_original: false });
    assert!(s.got(4, |m| matches!(m, ServerMessage::Error { code, .. } if code == "not-found")));
}

#[test]
fn interpreters_send_no_camera_and_no_screen() {
    let mut s = interpreted_call(Mode::Call);
    s.event(RoomEvent::MediaState { connection: 2, audio: true, video: true, id: Some(1) });
    let result = s.take(2).into_iter().find_map(|m| match m {
        ServerMessage::MediaResult { video, refused, .. } => Some((video, refused)),
        _ => None,
    });
    let (video, refused) = result.expect("told");
    assert!(!video);
    assert!(refused.iter().any(|r| r.message.contains("Interpreters cannot turn on their camera")), "{refused:?}");
    s.event(RoomEvent::Share { connection: 2, on: true, id: Some(2) });
    assert!(s.got(2, |m| matches!(m, ServerMessage::MediaResult { screen: false, .. })));
    assert!(!s.relay.sending(ROOM, "de/video") && !s.relay.sending(ROOM, "de/screen"));
    s.event(RoomEvent::Listen { connection: 2, channel: Some("fr".into()), mute_original: false });
    assert!(s.got(2, |m| matches!(m, ServerMessage::Error { code, .. } if code == "not-allowed")));
}

#[test]
fn a_moderator_turns_interpretation_off_and_on() {
    let mut s = interpreted_call(Mode::Call);
    s.event(RoomEvent::Listen { connection: 4, channel: Some("fr".into()), mute_original: true });
    s.answer_all();
    s.take(4);
    s.event(RoomEvent::Moderate { connection: 4, action: ModeratorAction::Interpretation { on: false } });
    assert!(s.got(4, |m| matches!(m, ServerMessage::Error { code, .. } if code == "forbidden")));
    s.event(RoomEvent::Moderate { connection: 1, action: ModeratorAction::Interpretation { on: false } });
    assert_eq!(channels_told(&mut s, 4), Some((vec![], None, Some("interpretation-off"))));
    s.answer_all();
    assert!(hears(&s, "l1").contains(&"speaker") && !hears(&s, "l1").contains(&"fr"));
    s.event(RoomEvent::Moderate { connection: 1, action: ModeratorAction::Interpretation { on: true } });
    assert_eq!(channels_told(&mut s, 5), Some((vec!["de".into(), "fr".into()], None, None)));
}

#[test]
fn interpreters_never_become_the_speaker() {
    let mut s = interpreted_call(Mode::Call);
    s.event(RoomEvent::ActiveSpeaker { producer: "de/audio".into() });
    assert!(!s.got(4, |m| matches!(m, ServerMessage::ActiveSpeaker { .. })));
    s.event(RoomEvent::ActiveSpeaker { producer: "speaker/audio".into() });
    assert!(s.got(4, |m| matches!(m, ServerMessage::ActiveSpeaker { peer_id } if peer_id == "speaker")));
}

#[test]
fn interpreters_take_no_broadcaster_seat() {
    let mut s = Scenario::new();
    let webinar = |r: &mut JoinRequest| r.mode = Mode::Webinar;
    let host = |r: &mut JoinRequest| (webinar(r), moderator(r), r.grant.max_broadcasters = Some(1), r.video = false).3;
    assert!(s.join(1, request("host", host)).is_ok());
    assert!(s.join(2, request("de", |r| (webinar(r), interpreter("de")(r)).1)).is_ok());
    s.answer_all();
    assert!(s.relay.sending(ROOM, "host/audio"), "the host holds the one seat");
    assert!(s.relay.sending(ROOM, "de/audio"), "the interpreter speaks without one");
    assert!(s.relay.rooms[ROOM].peers["de"].interpreter, "the relay knows it is an interpreter");
}
