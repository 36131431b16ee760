//! The overflow report both platforms' fault handlers print. Signal- and
//! exception-handler safe: no allocation, no locks; the caller supplies the raw write.

use super::StackHeader;
use super::registry::GuardInfo;

/// Hands `write` the pieces of `fibra: fiber '<name>' overflowed its <N> KiB stack`,
/// a hint, and a closing line, in order.
pub(crate) fn write_overflow_report(guard: GuardInfo, mut write: impl FnMut(&[u8])) {
    let mut name = [0u8; 55];
    // SAFETY: the registry names a live stack whose header sits at `guard.header`.
    let header = unsafe { &*(guard.header as *const StackHeader) };
    let len = header.read_name(&mut name);
    let name: &[u8] = if len == 0 { b"<unnamed>" } else { &name[..len] };
    let mut kib = [0u8; 20];
    let kib = format_decimal(guard.size.div_ceil(1024), &mut kib);
    let parts: [&[u8]; 7] = [
        b"\nfibra: fiber '",
        name,
        b"' overflowed its ",
        kib,
        b" KiB stack\n",
        b"fibra: hint: give it a bigger stack (Builder::stack_size), or move large locals and deep \
          recursion to the heap or to fibra::on_stack\n",
        b"fibra: aborting\n",
    ];
    for part in parts {
        write(part);
    }
}

/// Formats `n` in decimal into `buf`, returning the digits.
fn format_decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn formats_decimal() {
        let mut buf = [0; 20];
        assert_eq!(format_decimal(0, &mut buf), b"0");
        assert_eq!(format_decimal(65472usize.div_ceil(1024), &mut buf), b"64");
        assert_eq!(
            format_decimal(usize::MAX, &mut buf),
            usize::MAX.to_string().as_bytes()
        );
    }
}
