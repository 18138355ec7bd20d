use super::assert_probe;
use super::build::*;
use crate::probe::Kind;

#[test]
fn mp4_with_video_track() {
    let file = mp4(b"isom", &[b"vide", b"soun"], true);
    assert_probe("mp4", &file, "mp4", Kind::Video, "video/mp4", None);
}

#[test]
fn mp4_audio_only_tracks() {
    let file = mp4(b"isom", &[b"soun"], true);
    assert_probe(
        "audio-only mp4",
        &file,
        "mp4",
        Kind::Audio,
        "audio/mp4",
        None,
    );
    let dash = mp4(b"dash", &[b"soun", b"meta"], true);
    assert_probe(
        "audio-only dash",
        &dash,
        "mp4",
        Kind::Audio,
        "audio/mp4",
        None,
    );
}

#[test]
fn m4a_brand_is_audio() {
    // The track list comes after the media data and is still in the head.
    let file = mp4(b"M4A ", &[b"soun"], false);
    assert_probe("m4a", &file, "m4a", Kind::Audio, "audio/mp4", None);
}

#[test]
fn m4a_brand_without_tracks_is_audio() {
    let file = [
        ftyp(b"M4A ", &[b"M4A ", b"mp42"]),
        iso_box(b"free", &[0; 8]),
    ]
    .concat();
    assert_probe(
        "m4a without moov",
        &file,
        "mp4",
        Kind::Audio,
        "audio/mp4",
        None,
    );
}

#[test]
fn generic_brand_without_tracks_follows_extension() {
    // `mdat` comes first and claims more bytes than the head holds, so `moov` is out of reach.
    let mut file = ftyp(b"isom", &[b"isom", b"mp41"]);
    file.extend_from_slice(&(4_000_000u32).to_be_bytes());
    file.extend_from_slice(b"mdat");
    file.extend_from_slice(&[0; 100]);
    assert_probe(
        "isom named m4a",
        &file,
        "m4a",
        Kind::Audio,
        "audio/mp4",
        None,
    );
    assert_probe(
        "isom named mp4",
        &file,
        "mp4",
        Kind::Video,
        "video/mp4",
        None,
    );
    assert_probe(
        "isom without extension",
        &file,
        "",
        Kind::Video,
        "video/mp4",
        None,
    );
}

#[test]
fn video_track_beats_audio_brand() {
    let file = mp4(b"M4A ", &[b"vide"], true);
    assert_probe(
        "m4a brand with video",
        &file,
        "m4a",
        Kind::Video,
        "video/mp4",
        None,
    );
}

#[test]
fn quicktime_and_3gp() {
    assert_probe(
        "mov",
        &mp4(b"qt  ", &[b"vide"], true),
        "mov",
        Kind::Video,
        "video/quicktime",
        None,
    );
    assert_probe(
        "3gp",
        &mp4(b"3gp5", &[b"vide"], true),
        "3gp",
        Kind::Video,
        "video/3gpp",
        None,
    );
    assert_probe(
        "3gp audio",
        &mp4(b"3gp4", &[b"soun"], true),
        "3gp",
        Kind::Audio,
        "audio/3gpp",
        None,
    );
    assert_probe(
        "3g2",
        &mp4(b"3g2a", &[b"vide"], false),
        "3g2",
        Kind::Video,
        "video/3gpp2",
        None,
    );
}

#[test]
fn quicktime_without_ftyp() {
    let file = [
        iso_box(b"moov", &iso_box(b"mvhd", &[0; 100])),
        iso_box(b"mdat", &[0; 16]),
    ]
    .concat();
    assert_probe(
        "old mov",
        &file,
        "mov",
        Kind::Video,
        "video/quicktime",
        None,
    );
}

#[test]
fn webm_and_matroska() {
    assert_probe(
        "webm",
        &matroska("webm", &[1, 2], false),
        "webm",
        Kind::Video,
        "video/webm",
        None,
    );
    assert_probe(
        "webm audio",
        &matroska("webm", &[2], false),
        "webm",
        Kind::Audio,
        "audio/webm",
        None,
    );
    assert_probe(
        "mkv",
        &matroska("matroska", &[1], false),
        "mkv",
        Kind::Video,
        "video/x-matroska",
        None,
    );
    assert_probe(
        "mka",
        &matroska("matroska", &[2], false),
        "mka",
        Kind::Audio,
        "audio/x-matroska",
        None,
    );
}

#[test]
fn live_webm_with_unknown_segment_size() {
    let file = matroska("webm", &[2], true);
    assert_probe(
        "live webm audio",
        &file,
        "webm",
        Kind::Audio,
        "audio/webm",
        None,
    );
}

#[test]
fn webm_without_tracks_follows_extension() {
    let file = matroska("webm", &[], false);
    assert_probe(
        "webm named webm",
        &file,
        "webm",
        Kind::Video,
        "video/webm",
        None,
    );
    assert_probe(
        "webm named weba",
        &file,
        "weba",
        Kind::Audio,
        "audio/webm",
        None,
    );
}

#[test]
fn unknown_ebml_doc_type_is_not_matroska() {
    let file = matroska("notmkv", &[1], false);
    assert_probe(
        "other ebml",
        &file,
        "bin",
        Kind::Document,
        "application/octet-stream",
        None,
    );
}

#[test]
fn ogg_codecs() {
    let vorbis = ogg(&[b"\x01vorbis"]);
    assert_probe("vorbis", &vorbis, "ogg", Kind::Audio, "audio/ogg", None);
    let opus = ogg(&[b"OpusHead"]);
    assert_probe("opus", &opus, "opus", Kind::Audio, "audio/ogg", None);
    let flac = ogg(&[b"\x7fFLAC"]);
    assert_probe("ogg flac", &flac, "oga", Kind::Audio, "audio/ogg", None);
    let theora = ogg(&[b"\x80theora", b"\x01vorbis"]);
    assert_probe("theora", &theora, "ogg", Kind::Video, "video/ogg", None);
    let skeleton = ogg(&[b"fishead\0", b"\x01vorbis", b"\x80theora"]);
    assert_probe(
        "skeleton first",
        &skeleton,
        "ogv",
        Kind::Video,
        "video/ogg",
        None,
    );
}

#[test]
fn ogg_unknown_codec_follows_extension() {
    let unknown = ogg(&[b"\x01unknown"]);
    assert_probe(
        "unknown named ogv",
        &unknown,
        "ogv",
        Kind::Video,
        "video/ogg",
        None,
    );
    assert_probe(
        "unknown named ogg",
        &unknown,
        "ogg",
        Kind::Audio,
        "audio/ogg",
        None,
    );
}

#[test]
fn riff_audio_and_video() {
    assert_probe("wav", &wav(64), "wav", Kind::Audio, "audio/wav", None);
    let avi = riff(b"AVI ", &[riff_chunk(b"LIST", b"hdrlavih")]);
    assert_probe("avi", &avi, "avi", Kind::Video, "video/x-msvideo", None);
    let unknown = riff(b"CDXA", &[riff_chunk(b"fmt ", &[0; 16])]);
    assert_probe(
        "other riff",
        &unknown,
        "",
        Kind::Document,
        "application/octet-stream",
        None,
    );
}

#[test]
fn mpeg_audio() {
    assert_probe(
        "mp3 frame",
        &mp3_frame(),
        "mp3",
        Kind::Audio,
        "audio/mpeg",
        None,
    );

    let tagged = [id3_tag(64), mp3_frame()].concat();
    assert_probe(
        "id3 then frame",
        &tagged,
        "mp3",
        Kind::Audio,
        "audio/mpeg",
        None,
    );

    let id3_flac = [id3_tag(32), b"fLaC\0\0\0\x22".to_vec()].concat();
    assert_probe(
        "id3 then flac",
        &id3_flac,
        "flac",
        Kind::Audio,
        "audio/flac",
        None,
    );

    let id3_aac = [id3_tag(32), vec![0xFF, 0xF1, 0x50, 0x80, 0, 0x1F, 0xFC]].concat();
    assert_probe(
        "id3 then aac",
        &id3_aac,
        "aac",
        Kind::Audio,
        "audio/aac",
        None,
    );

    let adts = [0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC, 0, 0, 0];
    assert_probe("adts", &adts, "aac", Kind::Audio, "audio/aac", None);

    // An ID3 tag larger than the head: still MP3.
    let long_tag = id3_tag(64)[..40].to_vec();
    assert_probe("cut id3", &long_tag, "mp3", Kind::Audio, "audio/mpeg", None);
}

#[test]
fn other_audio_signatures() {
    let flac = b"fLaC\x00\x00\x00\x22\x10\x00\x10\x00".to_vec();
    assert_probe("flac", &flac, "flac", Kind::Audio, "audio/flac", None);
    let aiff = [
        &b"FORM\0\0\0\x20AIFF"[..],
        b"COMM\0\0\0\x12\0\x01\0\0\0\0\0\x10\x40\x0E\xAC\x44\0\0\0\0\0\0",
    ]
    .concat();
    assert_probe("aiff", &aiff, "aiff", Kind::Audio, "audio/aiff", None);
    let midi = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60".to_vec();
    assert_probe("midi", &midi, "mid", Kind::Audio, "audio/midi", None);
    let amr = b"#!AMR\n\x3C\x00\x00\x00\x00\x00\x00".to_vec();
    assert_probe("amr", &amr, "amr", Kind::Audio, "audio/amr", None);
}

#[test]
fn other_video_signatures() {
    let mut transport_stream = Vec::new();
    for _ in 0..3 {
        let mut packet = vec![0x47, 0x40, 0x00, 0x10];
        packet.resize(188, 0xFF);
        transport_stream.extend(packet);
    }
    assert_probe(
        "mpeg-ts",
        &transport_stream,
        "ts",
        Kind::Video,
        "video/mp2t",
        None,
    );
    let program_stream = [
        0x00, 0x00, 0x01, 0xBA, 0x44, 0x00, 0x04, 0x00, 0x04, 0x01, 0x01, 0x89, 0xC3, 0xF8,
    ];
    assert_probe(
        "mpeg-ps",
        &program_stream,
        "mpg",
        Kind::Video,
        "video/mpeg",
        None,
    );
    let flv = b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00".to_vec();
    assert_probe("flv", &flv, "flv", Kind::Video, "video/x-flv", None);
}

#[test]
fn asf_follows_extension() {
    let asf = [
        0x30, 0x26, 0xB2, 0x75, 0x8E, 0x66, 0xCF, 0x11, 0xA6, 0xD9, 0x00, 0xAA, 0x00, 0x62, 0xCE,
        0x6C,
    ];
    assert_probe("wmv", &asf, "wmv", Kind::Video, "video/x-ms-wmv", None);
    assert_probe("wma", &asf, "wma", Kind::Audio, "audio/x-ms-wma", None);
}

#[test]
fn media_extension_without_media_bytes() {
    let unknown = [0x00, 0x13, 0x37, 0xBE, 0xEF, 0x00, 0x01, 0x02];
    assert_probe(
        "unknown mp3",
        &unknown,
        "mp3",
        Kind::Audio,
        "audio/mpeg",
        None,
    );
    assert_probe(
        "unknown mkv",
        &unknown,
        "mkv",
        Kind::Video,
        "video/x-matroska",
        None,
    );
}

#[test]
fn canon_raw_is_document() {
    let cr3 = [ftyp(b"crx ", &[b"crx ", b"isom"]), iso_box(b"moov", &[])].concat();
    assert_probe(
        "cr3",
        &cr3,
        "cr3",
        Kind::Document,
        "image/x-canon-cr3",
        None,
    );
}
