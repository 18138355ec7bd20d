//! ISO base media files (MP4, M4A, QuickTime, 3GP, HEIF, AVIF): the `ftyp` brands and the track handlers decide
//! between image, audio and video.

use super::bytes::{fourcc, u32_be, u64_be};
use super::sniff::{Detection, ImageFormat};
use super::Kind;

/// One box of an ISO base media file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IsoBox<'a> {
    pub box_type: [u8; 4],
    /// The bytes after the box header, up to the end of the box or of the available data.
    pub body: &'a [u8],
    /// Whether the whole box is present.
    pub complete: bool,
}

/// Iterator over the boxes laid out one after another in a byte range.
///
/// A box that runs past the end of the range yields the bytes that are present (with `complete` false), so that a
/// container cut off by the end of the head can still be searched. A size smaller than the box header ends the
/// iteration.
pub(super) struct Boxes<'a> {
    rest: &'a [u8],
}

impl<'a> Boxes<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Boxes { rest: data }
    }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = IsoBox<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let size32 = u32_be(self.rest, 0)?;
        let box_type = fourcc(self.rest, 4)?;
        let (header_len, size) = match size32 {
            // A size of 1 means a 64-bit size follows the type; 0 means the box extends to the end of the file.
            1 => (16, u64_be(self.rest, 8)?),
            0 => (8, self.rest.len() as u64),
            size => (8, u64::from(size)),
        };
        if size < header_len as u64 {
            self.rest = &[];
            return None;
        }

        let complete = size <= self.rest.len() as u64;
        let end = if complete {
            size as usize
        } else {
            self.rest.len()
        };
        let body = self.rest.get(header_len..end).unwrap_or(&[]);
        self.rest = &self.rest[end..];
        Some(IsoBox {
            box_type,
            body,
            complete,
        })
    }
}

/// Returns the first box of the given type in `data`.
pub(super) fn find<'a>(data: &'a [u8], target: &[u8; 4]) -> Option<IsoBox<'a>> {
    Boxes::new(data).find(|found| found.box_type == *target)
}

/// Returns the body of the first box of the given type in `data`.
pub(super) fn find_box<'a>(data: &'a [u8], target: &[u8; 4]) -> Option<&'a [u8]> {
    find(data, target).map(|found| found.body)
}

const AVIF_BRANDS: &[&[u8; 4]] = &[b"avif", b"avis"];
const HEIC_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
];
const HEIF_BRANDS: &[&[u8; 4]] = &[b"mif1", b"msf1", b"mif2", b"miaf"];
const AUDIO_BRANDS: &[&[u8; 4]] = &[b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "];

/// Extensions under which an ISO base media file without audio or video track information is taken as audio.
const AUDIO_EXTENSIONS: &[&str] = &["m4a", "m4b", "m4p", "aac", "f4a", "f4b"];

/// Recognises a file that starts with an `ftyp` box.
///
/// Image brands (HEIF, HEIC, AVIF) make an image. Otherwise the handler types of the tracks in `moov` decide: a video
/// track makes a video, audio tracks alone make audio. When `moov` is not in the head (it often comes after the media
/// data), an audio brand such as `M4A ` or an audio extension makes audio, and anything else is video.
pub(super) fn detect(head: &[u8], extension: &str) -> Option<Detection> {
    if fourcc(head, 4)? != *b"ftyp" {
        return None;
    }
    let ftyp = Boxes::new(head).next()?.body;
    let major = fourcc(ftyp, 0)?;
    // After the major brand comes a 4-byte minor version, then the list of compatible brands.
    let compatible = ftyp.get(8..).unwrap_or(&[]);

    if let Some(content_type) = image_type(&major, compatible) {
        return Some(Detection::image(ImageFormat::Heif, content_type));
    }
    if major == *b"crx " {
        // Canon CR3 raw photos use this container too. No browser shows them, so they are documents, like CR2.
        return Some(Detection::document("image/x-canon-cr3"));
    }

    let family = Family::from_brand(&major);
    let tracks = Tracks::read(head);
    let is_audio = if tracks.video {
        false
    } else if tracks.audio {
        true
    } else {
        is_one_of(AUDIO_BRANDS, &major) || AUDIO_EXTENSIONS.contains(&extension)
    };

    Some(if is_audio {
        Detection::new(Kind::Audio, family.audio_type())
    } else {
        Detection::new(Kind::Video, family.video_type())
    })
}

fn is_one_of(brands: &[&[u8; 4]], brand: &[u8]) -> bool {
    brands.iter().any(|listed| listed[..] == *brand)
}

/// Returns the image media type for HEIF-family brands: the major brand decides, and the compatible brands (4 bytes
/// each) refine the general `mif1`-style brands.
fn image_type(major: &[u8; 4], compatible: &[u8]) -> Option<&'static str> {
    if is_one_of(AVIF_BRANDS, major) {
        return Some("image/avif");
    }
    if is_one_of(HEIC_BRANDS, major) {
        return Some("image/heic");
    }
    if !is_one_of(HEIF_BRANDS, major) {
        return None;
    }
    if compatible
        .chunks_exact(4)
        .any(|brand| is_one_of(AVIF_BRANDS, brand))
    {
        Some("image/avif")
    } else if compatible
        .chunks_exact(4)
        .any(|brand| is_one_of(HEIC_BRANDS, brand))
    {
        Some("image/heic")
    } else {
        Some("image/heif")
    }
}

/// Container family, which sets the media type of audio and video files.
enum Family {
    Mp4,
    QuickTime,
    ThreeGpp,
    ThreeGpp2,
}

impl Family {
    fn from_brand(major: &[u8; 4]) -> Self {
        match major {
            b"qt  " => Family::QuickTime,
            [b'3', b'g', b'2', _] => Family::ThreeGpp2,
            [b'3', b'g', _, _] => Family::ThreeGpp,
            _ => Family::Mp4,
        }
    }

    fn video_type(&self) -> &'static str {
        match self {
            Family::Mp4 => "video/mp4",
            Family::QuickTime => "video/quicktime",
            Family::ThreeGpp => "video/3gpp",
            Family::ThreeGpp2 => "video/3gpp2",
        }
    }

    fn audio_type(&self) -> &'static str {
        match self {
            // Browsers play AAC or ALAC audio from a QuickTime file when it is served as MP4 audio.
            Family::Mp4 | Family::QuickTime => "audio/mp4",
            Family::ThreeGpp => "audio/3gpp",
            Family::ThreeGpp2 => "audio/3gpp2",
        }
    }
}

/// Kinds of track found in the `moov` box.
#[derive(Debug, Default, PartialEq, Eq)]
struct Tracks {
    video: bool,
    audio: bool,
}

impl Tracks {
    /// Reads the handler type (`moov/trak/mdia/hdlr`) of every track in the head.
    fn read(head: &[u8]) -> Self {
        let mut tracks = Tracks::default();
        let Some(moov) = find_box(head, b"moov") else {
            return tracks;
        };

        for trak in Boxes::new(moov).filter(|found| found.box_type == *b"trak") {
            let Some(hdlr) = find_box(trak.body, b"mdia").and_then(|mdia| find_box(mdia, b"hdlr"))
            else {
                continue;
            };
            // A full box: version and flags, then `pre_defined`, then the handler type.
            match fourcc(hdlr, 8).as_ref() {
                Some(b"vide") => tracks.video = true,
                Some(b"soun") => tracks.audio = true,
                _ => {}
            }
        }
        tracks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(box_type: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(box_type);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn boxes_clamp_truncated_box() {
        let mut data = boxed(b"free", b"abcd");
        data.extend_from_slice(&[0, 0, 1, 0, b'm', b'o', b'o', b'v', 1, 2]);
        let found: Vec<_> = Boxes::new(&data).collect();
        assert_eq!(
            found,
            vec![
                IsoBox {
                    box_type: *b"free",
                    body: b"abcd",
                    complete: true
                },
                IsoBox {
                    box_type: *b"moov",
                    body: &[1, 2],
                    complete: false
                },
            ]
        );
    }

    #[test]
    fn boxes_stop_at_undersized_box() {
        let data = [
            0, 0, 0, 4, b'f', b'r', b'e', b'e', 0, 0, 0, 8, b's', b'k', b'i', b'p',
        ];
        assert_eq!(Boxes::new(&data).count(), 0);
    }

    #[test]
    fn boxes_read_large_size() {
        let mut data = vec![
            0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 0, 0, 0, 0, 18, 7, 7,
        ];
        data.extend_from_slice(&boxed(b"moov", &[]));
        let found: Vec<_> = Boxes::new(&data)
            .map(|found| (found.box_type, found.body.len()))
            .collect();
        assert_eq!(found, vec![(*b"mdat", 2), (*b"moov", 0)]);
    }

    #[test]
    fn boxes_size_zero_runs_to_end() {
        let data = [0, 0, 0, 0, b'm', b'd', b'a', b't', 1, 2, 3];
        let found: Vec<_> = Boxes::new(&data).collect();
        assert_eq!(
            found,
            vec![IsoBox {
                box_type: *b"mdat",
                body: &[1, 2, 3],
                complete: true
            }]
        );
    }
}
