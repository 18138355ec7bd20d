//! EXIF orientation: locating the EXIF block in JPEG and PNG files and reading the Orientation tag of IFD 0.
//!
//! kamadak-exif 0.6 needs an owned copy of the block (for a TIFF file, the whole head) and builds an entry for every
//! field of every IFD it reaches. Only one field of IFD 0 matters here, so it is read in place, without allocating.

use super::bytes::{u16_be, u16_le, u32_be, u32_le};

/// TIFF tag number of Orientation.
const ORIENTATION: u16 = 0x0112;

/// TIFF field type SHORT (16-bit unsigned integer).
const SHORT: u16 = 3;

/// Marker that the bytes ended before the value was found, because the head is cut short or the file is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CutOff;

/// Returns the Orientation value (1 to 8) of IFD 0 in `tiff`, a block that starts with a TIFF header (`II*\0` or
/// `MM\0*`). Gives `Ok(None)` when the block is not TIFF or IFD 0 has no valid Orientation, and `CutOff` when the
/// bytes end inside IFD 0 before the tag is found.
pub(super) fn orientation(tiff: &[u8]) -> Result<Option<u16>, CutOff> {
    let little_endian = match tiff.get(..4) {
        Some([b'I', b'I', 42, 0]) => true,
        Some([b'M', b'M', 0, 42]) => false,
        Some(_) => return Ok(None),
        None => return Err(CutOff),
    };
    let read_u16 = |offset| {
        if little_endian {
            u16_le(tiff, offset)
        } else {
            u16_be(tiff, offset)
        }
        .ok_or(CutOff)
    };
    let read_u32 = |offset| {
        if little_endian {
            u32_le(tiff, offset)
        } else {
            u32_be(tiff, offset)
        }
        .ok_or(CutOff)
    };

    let ifd = usize::try_from(read_u32(4)?).map_err(|_| CutOff)?;
    let entry_count = usize::from(read_u16(ifd)?);
    for index in 0..entry_count {
        // Each entry is 12 bytes: tag, type, count, then the value itself when it fits in 4 bytes.
        let entry = ifd.checked_add(2 + 12 * index).ok_or(CutOff)?;
        if read_u16(entry)? != ORIENTATION {
            continue;
        }
        if read_u16(entry + 2)? != SHORT || read_u32(entry + 4)? != 1 {
            return Ok(None);
        }
        let value = read_u16(entry + 8)?;
        return Ok((1..=8).contains(&value).then_some(value));
    }
    Ok(None)
}

/// Returns the Orientation of a complete EXIF block: a block that ends too early is malformed and has none.
pub(super) fn block_orientation(tiff: &[u8]) -> Option<u16> {
    orientation(tiff).ok().flatten()
}

/// Returns the TIFF block of the first EXIF APP1 segment of a JPEG, looking only at the segments before the image
/// data (the first SOS marker). Gives `Ok(None)` when there is none, and `CutOff` when the bytes end before SOS.
pub(super) fn jpeg_exif(jpeg: &[u8]) -> Result<Option<&[u8]>, CutOff> {
    let mut position = 2; // After the SOI marker.
    loop {
        match jpeg.get(position) {
            Some(0xFF) => {}
            Some(_) => return Ok(None),
            None => return Err(CutOff),
        }
        // Any number of 0xFF fill bytes may precede a marker code.
        while *jpeg.get(position + 1).ok_or(CutOff)? == 0xFF {
            position += 1;
        }
        let marker = jpeg[position + 1];
        position += 2;

        match marker {
            // Stand-alone markers without a length: TEM, RSTn and SOI.
            0x01 | 0xD0..=0xD8 => continue,
            // SOS starts the image data and EOI ends the image: no metadata that counts comes after them.
            0xD9 | 0xDA => return Ok(None),
            _ => {}
        }

        // The length counts its own two bytes but not the marker.
        let length = usize::from(u16_be(jpeg, position).ok_or(CutOff)?);
        if length < 2 {
            return Ok(None);
        }
        let payload = jpeg.get(position + 2..position + length).ok_or(CutOff)?;
        if marker == 0xE1 {
            if let Some(tiff) = payload.strip_prefix(b"Exif\0\0") {
                return Ok(Some(tiff));
            }
        }
        position += length;
    }
}

/// Returns the TIFF block of a PNG `eXIf` chunk that precedes the image data (`IDAT`). Browsers ignore EXIF placed
/// after the image data, and so does this. Gives `CutOff` when the bytes end before `IDAT`.
pub(super) fn png_exif(png: &[u8]) -> Result<Option<&[u8]>, CutOff> {
    let mut position = 8; // After the PNG signature.
    loop {
        let length = usize::try_from(u32_be(png, position).ok_or(CutOff)?).map_err(|_| CutOff)?;
        let chunk_type = png.get(position + 4..position + 8).ok_or(CutOff)?;
        if chunk_type == b"IDAT" || chunk_type == b"IEND" {
            return Ok(None);
        }
        let data_start = position + 8;
        let data_end = data_start.checked_add(length).ok_or(CutOff)?;
        if chunk_type == b"eXIf" {
            let data = png.get(data_start..data_end).ok_or(CutOff)?;
            // Some writers copy the JPEG APP1 identifier into the chunk; the PNG specification does not have it.
            return Ok(Some(data.strip_prefix(b"Exif\0\0").unwrap_or(data)));
        }
        // Skip the data and its 4-byte CRC.
        position = data_end.checked_add(4).ok_or(CutOff)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIFF: &[u8] = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";

    #[test]
    fn orientation_in_place() {
        assert_eq!(orientation(TIFF), Ok(Some(6)));
        assert_eq!(orientation(&TIFF[..18]), Err(CutOff));
        assert_eq!(orientation(b"XX\0*\0\0\0\x08"), Ok(None));
        assert_eq!(block_orientation(&TIFF[..18]), None);
    }

    #[test]
    fn jpeg_walk_skips_fill_and_standalone_markers() {
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xD0, 0xFF, 0xE1];
        jpeg.extend_from_slice(&((2 + 6 + TIFF.len()) as u16).to_be_bytes());
        jpeg.extend_from_slice(b"Exif\0\0");
        jpeg.extend_from_slice(TIFF);
        assert_eq!(jpeg_exif(&jpeg), Ok(Some(TIFF)));
        assert_eq!(jpeg_exif(&jpeg[..jpeg.len() - 1]), Err(CutOff));
    }

    #[test]
    fn jpeg_walk_stops_at_scan() {
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 0xFF, 0xE1, 0x00, 0x10, b'E', b'x', b'i', b'f', 0,
            0,
        ];
        assert_eq!(jpeg_exif(&jpeg), Ok(None));
        assert_eq!(jpeg_exif(&[0xFF, 0xD8, 0x12]), Ok(None));
        assert_eq!(jpeg_exif(&[0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x01]), Ok(None));
    }

    #[test]
    fn png_walk_stops_at_image_data() {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[0, 0, 0, 0]);
        png.extend_from_slice(b"IDAT");
        png.extend_from_slice(&[0; 4]);
        assert_eq!(png_exif(&png), Ok(None));
        assert_eq!(png_exif(&png[..10]), Err(CutOff));
        // A chunk length that points far past the end is followed only as far as the bytes go.
        let mut huge = b"\x89PNG\r\n\x1a\n".to_vec();
        huge.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xF0]);
        huge.extend_from_slice(b"tEXt");
        assert_eq!(png_exif(&huge), Err(CutOff));
    }
}
