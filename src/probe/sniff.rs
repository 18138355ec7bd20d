//! Recognition of an upload's format from its bytes.

use super::bytes::fourcc;
use super::{ebml, isobmff, markup, ogg, Kind};

/// Image formats whose display size the probe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
    Ico,
    Tiff,
    Psd,
    Jxl,
    Jp2,
    /// HEIF, HEIC and AVIF.
    Heif,
    Svg,
}

/// Kind and media type found for an upload, with the image format when there are dimensions to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Detection {
    pub kind: Kind,
    pub content_type: &'static str,
    pub image: Option<ImageFormat>,
}

impl Detection {
    pub(super) fn new(kind: Kind, content_type: &'static str) -> Self {
        Detection {
            kind,
            content_type,
            image: None,
        }
    }

    pub(super) fn image(format: ImageFormat, content_type: &'static str) -> Self {
        Detection {
            kind: Kind::Image,
            content_type,
            image: Some(format),
        }
    }

    pub(super) fn document(content_type: &'static str) -> Self {
        Detection::new(Kind::Document, content_type)
    }
}

/// Recognises the format of a non-empty head, or returns `None` when the bytes match no known signature and are not
/// text.
///
/// Containers and markup come first, then text, and only then the `infer` crate's signatures: several of those are
/// short ASCII words (`MAC ` for Monkey's Audio, `DSD ` for DSF) that would take a text file for audio. PDF is
/// checked before text because a PDF may be pure ASCII. MPEG transport streams come last, since their only signature
/// is a `G` every 188 bytes.
///
/// `extension` only settles containers that the head leaves ambiguous (an MP4 or WebM file whose track list is not in
/// the head, an ASF file, an Ogg file with an unknown codec) and the type of plain text. It never overrides a
/// recognised signature.
pub(super) fn detect(head: &[u8], complete: bool, extension: &str) -> Option<Detection> {
    isobmff::detect(head, extension)
        .or_else(|| ebml::detect(head, extension))
        .or_else(|| ogg::detect(head, extension))
        .or_else(|| riff(head))
        .or_else(|| mpeg_audio(head))
        .or_else(|| markup::detect_markup(head))
        .or_else(|| pdf(head))
        .or_else(|| compound_file(head, extension))
        .or_else(|| markup::detect_text(head, complete, extension))
        .or_else(|| signature(head, extension))
        .or_else(|| mpeg_transport_stream(head))
}

fn pdf(head: &[u8]) -> Option<Detection> {
    head.starts_with(b"%PDF-")
        .then(|| Detection::document("application/pdf"))
}

/// Recognises the RIFF formats: WebP, WAV (and its 64-bit RF64 and BW64 variants) and AVI.
fn riff(head: &[u8]) -> Option<Detection> {
    let container = fourcc(head, 0)?;
    if !matches!(&container, b"RIFF" | b"RF64" | b"BW64") {
        return None;
    }
    match &fourcc(head, 8)? {
        b"WEBP" if container == *b"RIFF" => Some(Detection::image(ImageFormat::WebP, "image/webp")),
        b"WAVE" => Some(Detection::new(Kind::Audio, "audio/wav")),
        b"AVI " if container == *b"RIFF" => Some(Detection::new(Kind::Video, "video/x-msvideo")),
        _ => None,
    }
}

/// Recognises MPEG audio: an ID3v2 tag, an ADTS (AAC) frame header or an MPEG-1/2/2.5 audio frame header.
fn mpeg_audio(head: &[u8]) -> Option<Detection> {
    let mut audio = head;
    if audio.starts_with(b"ID3") {
        // ID3v2 header: "ID3", major version 2 to 4, revision, flags, then the tag size as four 7-bit bytes,
        // excluding the 10-byte header. The tag usually precedes MP3 frames, but may precede AAC or FLAC.
        let header = audio.get(..10)?;
        let size_bytes = &header[6..10];
        if !(2..=4).contains(&header[3]) || size_bytes.iter().any(|&byte| byte >= 0x80) {
            return None;
        }
        let size = size_bytes
            .iter()
            .fold(0usize, |size, &byte| (size << 7) | usize::from(byte));
        audio = match audio.get(10 + size..) {
            Some(rest) if !rest.is_empty() => rest,
            _ => return Some(Detection::new(Kind::Audio, "audio/mpeg")),
        };
        if audio.starts_with(b"fLaC") {
            return Some(Detection::new(Kind::Audio, "audio/flac"));
        }
        return Some(Detection::new(
            Kind::Audio,
            frame_type(audio).unwrap_or("audio/mpeg"),
        ));
    }
    frame_type(audio).map(|content_type| Detection::new(Kind::Audio, content_type))
}

/// Returns the media type of an ADTS or MPEG audio frame header at the start of `frame`.
fn frame_type(frame: &[u8]) -> Option<&'static str> {
    let [0xFF, second, third, ..] = *frame else {
        return None;
    };
    if second & 0xE0 != 0xE0 {
        return None;
    }
    // ADTS: 12-bit sync word, layer 0, and a sampling frequency index below 13.
    if second & 0xF6 == 0xF0 {
        return ((third >> 2) & 0x0F < 13).then_some("audio/aac");
    }
    // MPEG audio: version 01 and layer 00 are reserved, bitrate index 15 is invalid, sampling rate 11 is reserved.
    let version = (second >> 3) & 0x03;
    let layer = (second >> 1) & 0x03;
    let bitrate = third >> 4;
    let sampling_rate = (third >> 2) & 0x03;
    (version != 0b01 && layer != 0b00 && bitrate != 0x0F && sampling_rate != 0b11)
        .then_some("audio/mpeg")
}

/// Recognises an MPEG transport stream: 188-byte packets (or 192-byte packets with a 4-byte timecode, as in
/// M2TS) that each start with the sync byte 0x47, checked on the first three packets.
fn mpeg_transport_stream(head: &[u8]) -> Option<Detection> {
    const SYNC: u8 = 0x47;
    let packets_agree = |first: usize, stride: usize| {
        (0..3).all(|index| head.get(first + index * stride) == Some(&SYNC))
    };
    (packets_agree(0, 188) || packets_agree(4, 192))
        .then(|| Detection::new(Kind::Video, "video/mp2t"))
}

/// Recognises an OLE2 compound file (legacy Office documents, Outlook messages, Windows Installer packages) by its
/// signature, taking the media type from the extension.
///
/// This must come before `infer`, because infer 0.19 opens OLE2 files with cfb 0.7.3, which reads the whole
/// allocation table before validating it. A crafted 1 MiB head made that take about 135 MB and 0.7 s per call
/// (measured in a release build), and infer makes up to three such calls per file.
fn compound_file(head: &[u8], extension: &str) -> Option<Detection> {
    const SIGNATURE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if !head.starts_with(SIGNATURE) {
        return None;
    }
    let content_type = match extension {
        "doc" | "dot" => "application/msword",
        "xls" | "xlt" => "application/vnd.ms-excel",
        "ppt" | "pot" | "pps" => "application/vnd.ms-powerpoint",
        "msg" => "application/vnd.ms-outlook",
        "msi" => "application/x-msi",
        _ => "application/x-ole-storage",
    };
    Some(Detection::document(content_type))
}

/// Recognises the remaining formats with the `infer` crate's signatures, and maps its types to the probe's kinds and
/// media types. Its HTML and shell script matches are skipped: text is recognised separately.
fn signature(head: &[u8], extension: &str) -> Option<Detection> {
    let found = infer::get(head)?;
    let content_type = found.mime_type();
    let detection = match found.matcher_type() {
        infer::MatcherType::Text => return None,
        // WebP, HEIF and AVIF never get here, because `riff` and `isobmff` recognise them first.
        infer::MatcherType::Image => match content_type {
            "image/jpeg" => Detection::image(ImageFormat::Jpeg, content_type),
            "image/png" => Detection::image(ImageFormat::Png, content_type),
            "image/gif" => Detection::image(ImageFormat::Gif, content_type),
            "image/bmp" => Detection::image(ImageFormat::Bmp, content_type),
            "image/vnd.microsoft.icon" => Detection::image(ImageFormat::Ico, content_type),
            "image/tiff" => Detection::image(ImageFormat::Tiff, content_type),
            "image/vnd.adobe.photoshop" => Detection::image(ImageFormat::Psd, content_type),
            "image/jxl" => Detection::image(ImageFormat::Jxl, content_type),
            "image/jp2" => Detection::image(ImageFormat::Jp2, content_type),
            // Camera raw files, JPEG XR, OpenRaster and DjVu: no browser shows them.
            _ => Detection::document(content_type),
        },
        infer::MatcherType::Audio => Detection::new(Kind::Audio, audio_type(content_type)),
        // Every EBML file matches infer's WebM signature; `ebml::detect` has already rejected it by its DocType.
        infer::MatcherType::Video if matches!(content_type, "video/webm" | "video/x-matroska") => {
            return None
        }
        infer::MatcherType::Video => video(content_type, extension),
        _ => Detection::document(content_type),
    };
    Some(detection)
}

/// Returns the registered or most widely used media type for an audio type named by `infer`.
fn audio_type(content_type: &'static str) -> &'static str {
    match content_type {
        "audio/x-flac" => "audio/flac",
        "audio/x-wav" => "audio/wav",
        "audio/x-aiff" => "audio/aiff",
        "audio/m4a" => "audio/mp4",
        "audio/opus" => "audio/ogg",
        other => other,
    }
}

fn video(content_type: &'static str, extension: &str) -> Detection {
    // ASF contains Windows Media audio as well as video, and only a full parse of its header distinguishes them.
    if content_type == "video/x-ms-wmv" && extension == "wma" {
        return Detection::new(Kind::Audio, "audio/x-ms-wma");
    }
    Detection::new(Kind::Video, content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_headers() {
        assert_eq!(frame_type(&[0xFF, 0xFB, 0x90, 0x64]), Some("audio/mpeg"));
        assert_eq!(frame_type(&[0xFF, 0xF3, 0x48, 0xC4]), Some("audio/mpeg"));
        assert_eq!(frame_type(&[0xFF, 0xE3, 0x18, 0xC4]), Some("audio/mpeg"));
        assert_eq!(frame_type(&[0xFF, 0xF1, 0x50, 0x80]), Some("audio/aac"));
        assert_eq!(frame_type(&[0xFF, 0xF9, 0x50, 0x80]), Some("audio/aac"));
        // Reserved version, reserved layer, bad bitrate, reserved sampling rate, JPEG SOI.
        assert_eq!(frame_type(&[0xFF, 0xEB, 0x90, 0x64]), None);
        assert_eq!(frame_type(&[0xFF, 0xF1, 0x34, 0x80]), None);
        assert_eq!(frame_type(&[0xFF, 0xE1, 0x90, 0x64]), None);
        assert_eq!(frame_type(&[0xFF, 0xFB, 0xF0, 0x64]), None);
        assert_eq!(frame_type(&[0xFF, 0xFB, 0x9C, 0x64]), None);
        assert_eq!(frame_type(&[0xFF, 0xD8, 0xFF, 0xE0]), None);
        assert_eq!(frame_type(&[0xFF, 0xFB]), None);
    }
}
