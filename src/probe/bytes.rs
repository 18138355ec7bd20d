//! Bounds-checked reads of fixed-width integers: each returns `None` when the bytes end before the value does.

fn array<const N: usize>(data: &[u8], offset: usize) -> Option<[u8; N]> {
    data.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

pub(super) fn u16_be(data: &[u8], offset: usize) -> Option<u16> {
    array(data, offset).map(u16::from_be_bytes)
}

pub(super) fn u16_le(data: &[u8], offset: usize) -> Option<u16> {
    array(data, offset).map(u16::from_le_bytes)
}

pub(super) fn u32_be(data: &[u8], offset: usize) -> Option<u32> {
    array(data, offset).map(u32::from_be_bytes)
}

pub(super) fn u32_le(data: &[u8], offset: usize) -> Option<u32> {
    array(data, offset).map(u32::from_le_bytes)
}

pub(super) fn i32_le(data: &[u8], offset: usize) -> Option<i32> {
    array(data, offset).map(i32::from_le_bytes)
}

pub(super) fn u64_be(data: &[u8], offset: usize) -> Option<u64> {
    array(data, offset).map(u64::from_be_bytes)
}

/// Reads the four-character code at `offset`.
pub(super) fn fourcc(data: &[u8], offset: usize) -> Option<[u8; 4]> {
    array(data, offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_end() {
        let data = [1, 2, 3, 4];
        assert_eq!(u16_be(&data, 2), Some(0x0304));
        assert_eq!(u16_le(&data, 2), Some(0x0403));
        assert_eq!(u16_be(&data, 3), None);
        assert_eq!(u32_be(&data, 0), Some(0x0102_0304));
        assert_eq!(u32_le(&data, 1), None);
        assert_eq!(u64_be(&data, 0), None);
        assert_eq!(fourcc(&data, usize::MAX), None);
    }
}
