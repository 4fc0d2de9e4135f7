//! The dossier's archive format: POSIX ustar (POSIX.1-1988), which `tar`,
//! 7-Zip, the Windows `tar.exe` and every archive tool opens. Only regular
//! files with short names are written, so the writer is a header function;
//! the reader accepts exactly what the writer makes.

use std::io::Read;

/// A ustar block.
pub const BLOCK: usize = 512;

/// The header of a regular file of `size` bytes named `name` (at most 100
/// bytes, ASCII), modified at `mtime` (seconds since the epoch).
pub fn header(name: &str, size: u64, mtime: i64) -> Result<[u8; BLOCK], TarError> {
    if name.is_empty() || name.len() > 100 || !name.is_ascii() {
        return Err(TarError::Name(name.to_owned()));
    }
    if size >= 1 << 33 {
        return Err(TarError::TooLarge(name.to_owned()));
    }
    let mut h = [0u8; BLOCK];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], mtime.max(0) as u64);
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[265..270].copy_from_slice(b"ponte");
    h[297..302].copy_from_slice(b"ponte");
    // The checksum is taken with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
    Ok(h)
}

/// Zero bytes that pad a file of `size` bytes to a whole block.
pub fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

/// The two zero blocks that end an archive.
pub const END: [u8; 2 * BLOCK] = [0u8; 2 * BLOCK];

/// Writes `value` in octal, zero-padded, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

/// What is wrong with an archive.
#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("file name {0:?} cannot be stored in a ustar header")]
    Name(String),
    #[error("{0} is too large for a ustar header")]
    TooLarge(String),
    #[error("not a ustar archive: {0}")]
    Format(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads the entries of an archive in order.
pub struct Reader<R: Read> {
    inner: R,
}

/// One file of an archive: its name and size; read its bytes with [`Reader::content`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub size: u64,
}

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Reader<R> {
        Reader { inner }
    }

    /// The next entry's header, or `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, TarError> {
        let mut h = [0u8; BLOCK];
        if !read_full(&mut self.inner, &mut h)? {
            return Err(TarError::Format(
                "the archive ends without its end blocks".into(),
            ));
        }
        if h.iter().all(|b| *b == 0) {
            return Ok(None);
        }
        if &h[257..262] != b"ustar" {
            return Err(TarError::Format("an entry has no ustar magic".into()));
        }
        let stated = parse_octal(&h[148..156])?;
        let mut copy = h;
        copy[148..156].copy_from_slice(b"        ");
        let sum: u64 = copy.iter().map(|b| u64::from(*b)).sum();
        if sum != stated {
            return Err(TarError::Format("a header checksum does not match".into()));
        }
        if h[156] != b'0' && h[156] != 0 {
            return Err(TarError::Format("only regular files are expected".into()));
        }
        let end = h[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let name = String::from_utf8(h[..end].to_vec())
            .map_err(|_| TarError::Format("a file name is not text".into()))?;
        Ok(Some(Entry {
            name,
            size: parse_octal(&h[124..136])?,
        }))
    }

    /// Feeds the current entry's bytes to `sink`, a piece at a time, and
    /// skips its padding.
    pub fn content(&mut self, entry: &Entry, mut sink: impl FnMut(&[u8])) -> Result<(), TarError> {
        let mut left = entry.size;
        let mut buffer = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = left.min(buffer.len() as u64) as usize;
            let got = self.inner.read(&mut buffer[..want])?;
            if got == 0 {
                return Err(TarError::Format(format!("{} is cut short", entry.name)));
            }
            sink(&buffer[..got]);
            left -= got as u64;
        }
        let mut pad = vec![0u8; padding(entry.size)];
        if !read_full(&mut self.inner, &mut pad)? {
            return Err(TarError::Format(format!("{} is cut short", entry.name)));
        }
        Ok(())
    }
}

fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> Result<bool, std::io::Error> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..])? {
            0 => return Ok(filled == 0 && buffer.is_empty()),
            n => filled += n,
        }
    }
    Ok(true)
}

fn parse_octal(field: &[u8]) -> Result<u64, TarError> {
    let text: String = field
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    u64::from_str_radix(text.trim(), 8)
        .map_err(|_| TarError::Format(format!("{text:?} is not an octal number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, bytes) in files {
            out.extend_from_slice(&header(name, bytes.len() as u64, 1_700_000_000).unwrap());
            out.extend_from_slice(bytes);
            out.extend(std::iter::repeat_n(0u8, padding(bytes.len() as u64)));
        }
        out.extend_from_slice(&END);
        out
    }

    #[test]
    fn what_the_writer_makes_the_reader_reads_back() {
        let bytes = archive(&[
            ("dossier/a.txt", b"hello"),
            ("dossier/empty", b""),
            ("dossier/b", &[7u8; 1500]),
        ]);
        assert_eq!(bytes.len() % BLOCK, 0);
        let mut reader = Reader::new(&bytes[..]);
        let mut seen = Vec::new();
        while let Some(entry) = reader.next_entry().unwrap() {
            let mut content = Vec::new();
            reader
                .content(&entry, |piece| content.extend_from_slice(piece))
                .unwrap();
            seen.push((entry.name, content));
        }
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], ("dossier/a.txt".to_owned(), b"hello".to_vec()));
        assert_eq!(seen[2].1, vec![7u8; 1500]);
    }

    #[test]
    fn a_changed_header_or_a_cut_archive_is_refused() {
        let mut bytes = archive(&[("a", b"x")]);
        bytes[0] = b'b';
        assert!(Reader::new(&bytes[..]).next_entry().is_err());
        let bytes = archive(&[("a", &[1u8; 600])]);
        let mut reader = Reader::new(&bytes[..700]);
        let entry = reader.next_entry().unwrap().unwrap();
        assert!(reader.content(&entry, |_| {}).is_err());
    }

    #[test]
    fn long_or_non_ascii_names_are_refused() {
        assert!(header(&"a".repeat(101), 1, 0).is_err());
        assert!(header("città", 1, 0).is_err());
    }
}
