//! Ogg: the codec identification packets at the start of the logical streams decide between audio and video.

use super::sniff::Detection;
use super::Kind;

/// Length of an Ogg page header before its segment table.
const PAGE_HEADER_LEN: usize = 27;

/// `header_type` flag of the first page of a logical stream.
const BEGINNING_OF_STREAM: u8 = 0x02;

/// Start of the identification packet of video codecs: Theora, Daala, Dirac, VP8 and OGM video.
const VIDEO_CODECS: &[&[u8]] = &[
    b"\x80theora",
    b"\x80daala",
    b"BBCD\0",
    b"OVP80",
    b"\x01video",
];

/// Start of the identification packet of audio codecs: Vorbis, Opus, FLAC and Speex.
const AUDIO_CODECS: &[&[u8]] = &[b"\x01vorbis", b"OpusHead", b"\x7fFLAC", b"Speex   "];

/// Recognises an Ogg file.
///
/// A video stream makes a video and audio streams alone make audio. When no known codec is found in the head, the
/// `ogv` extension makes a video and anything else is audio, the common case for Ogg.
pub(super) fn detect(head: &[u8], extension: &str) -> Option<Detection> {
    if !head.starts_with(b"OggS") {
        return None;
    }

    let (video, audio) = stream_kinds(head);
    let is_video = video || (!audio && extension == "ogv");
    Some(if is_video {
        Detection::new(Kind::Video, "video/ogg")
    } else {
        Detection::new(Kind::Audio, "audio/ogg")
    })
}

/// Returns whether the streams that begin in the head include video and audio. Every logical stream starts with a
/// page flagged "beginning of stream", and those pages come before all others.
fn stream_kinds(head: &[u8]) -> (bool, bool) {
    let (mut video, mut audio) = (false, false);
    let mut position = 0;
    while let Some(page) = head.get(position..) {
        if !page.starts_with(b"OggS")
            || page
                .get(5)
                .is_none_or(|flags| flags & BEGINNING_OF_STREAM == 0)
        {
            break;
        }
        let Some(&segment_count) = page.get(PAGE_HEADER_LEN - 1) else {
            break;
        };
        let data_start = PAGE_HEADER_LEN + usize::from(segment_count);
        let Some(segment_table) = page.get(PAGE_HEADER_LEN..data_start) else {
            break;
        };

        // The identification packet is the first packet of the stream's first page.
        let data = &page[data_start..];
        video |= VIDEO_CODECS.iter().any(|magic| data.starts_with(magic));
        audio |= AUDIO_CODECS.iter().any(|magic| data.starts_with(magic));

        let data_len: usize = segment_table
            .iter()
            .map(|&length| usize::from(length))
            .sum();
        position += data_start + data_len;
    }
    (video, audio)
}
