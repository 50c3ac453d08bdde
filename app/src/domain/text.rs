//! [`Text`]: the immutable strings of a grid (ids, names, regions, references), one pointer
//! wide, and a [`Packer`] that stores many of them in shared blocks.
//!
//! A large grid holds hundreds of thousands of short strings (ACTIVSg70k: 407,000 ids and
//! names of 7 to 12 bytes). Allocated one by one as reference-counted strings, each took a
//! 16-byte header and was rounded up to a 32-byte allocator slot: 13 MB for 4 MB of text.
//! A [`Packer`] writes texts one after the other into 32 KiB blocks, with 3 bytes of
//! bookkeeping each, and counts holders per block: a block is freed when the last text in
//! it (and its packer) is gone. A text made on its own ([`Text::from`]) gets a block of its
//! own, sized to fit, so a text kept long never holds a large block alive.
//!
//! Layout of a text in its block: the distance back to the block's start (`u16`, little
//! endian), the length (one byte below 255, else 255 and a `u32`, little endian), the UTF-8
//! bytes. A [`Text`] points at the first of these bytes. Blocks are never written where a
//! text already stands: a packer only appends after the last text it wrote.

use serde::de::{Deserializer, Error, Visitor};
use serde::{Deserialize, Serialize};
use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

/// The start of every block.
#[repr(C)]
struct Block {
    /// Texts pointing into the block, plus one while a packer still writes to it.
    holders: AtomicUsize,
    /// Size of the block's allocation in bytes (header included).
    size: usize,
}

const HEADER: usize = size_of::<Block>();
/// Size of a shared block; below 64 KiB, so the distance back to its start fits a `u16`.
const BLOCK_SIZE: usize = 32 * 1024;
/// Longest text a [`Packer`] puts in a shared block; a longer one gets a block of its own.
const MAX_PACKED: usize = 1024;
/// Beyond this many holders a count could overflow (see [`hold`]).
const MAX_HOLDERS: usize = isize::MAX as usize;

/// Bytes a text of `len` bytes takes in a block.
const fn record_size(len: usize) -> usize {
    2 + if len < 255 { 1 } else { 5 } + len
}

fn block_layout(size: usize) -> Layout {
    Layout::from_size_align(size, align_of::<Block>()).expect("a text block's size fits a layout")
}

/// A new block of `size` bytes with `holders` holders.
fn new_block(size: usize, holders: usize) -> NonNull<Block> {
    let layout = block_layout(size);
    // SAFETY: the layout's size is at least HEADER, never zero.
    let raw = unsafe { alloc(layout) };
    let block = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout)).cast::<Block>();
    // SAFETY: freshly allocated, aligned for Block and large enough for it.
    unsafe { block.as_ptr().write(Block { holders: AtomicUsize::new(holders), size }) };
    block
}

/// Counts one more holder of `block` (aborting, as `std`'s `Arc` does, before the count
/// could overflow).
///
/// # Safety
/// `block` is live: the caller holds it already.
unsafe fn hold(block: NonNull<Block>) {
    // SAFETY: the caller's hold keeps the block alive.
    let before = unsafe { block.as_ref() }.holders.fetch_add(1, Ordering::Relaxed);
    if before >= MAX_HOLDERS {
        std::process::abort();
    }
}

/// Drops one holder of `block`, freeing it with the last.
///
/// # Safety
/// `block` is a live block and the caller gives up one hold it owned.
unsafe fn release(block: NonNull<Block>) {
    // SAFETY: the caller's hold keeps the block alive until the decrement.
    if unsafe { block.as_ref() }.holders.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    // Every other holder's last use of the block happens before it is freed.
    fence(Ordering::Acquire);
    // SAFETY: the last hold is gone; the block was allocated with this layout.
    unsafe {
        let size = block.as_ref().size;
        dealloc(block.as_ptr().cast(), block_layout(size));
    }
}

/// Writes `text` at `offset` in `block` and returns the new text; the caller has counted
/// the text among the block's holders.
///
/// # Safety
/// `block` is live, `offset..offset + record_size(text.len())` lies inside it past its
/// header, no text stands there yet, and `offset` fits a `u16`.
unsafe fn write(block: NonNull<Block>, offset: usize, text: &str) -> Text {
    let len = u32::try_from(text.len()).expect("a text is shorter than 4 GiB");
    let mut head = [0u8; 7];
    head[..2].copy_from_slice(&(offset as u16).to_le_bytes());
    let head_len = if len < 255 {
        head[2] = len as u8;
        3
    } else {
        head[2] = 255;
        head[3..7].copy_from_slice(&len.to_le_bytes());
        7
    };
    // SAFETY: the caller guarantees the range is inside the block and not shared yet.
    unsafe {
        let at = block.as_ptr().cast::<u8>().add(offset);
        std::ptr::copy_nonoverlapping(head.as_ptr(), at, head_len);
        std::ptr::copy_nonoverlapping(text.as_ptr(), at.add(head_len), text.len());
        Text(NonNull::new_unchecked(at))
    }
}

/// An immutable string, one pointer wide (and `Option<Text>` too); clones share one copy.
pub struct Text(NonNull<u8>);

// SAFETY: a text's bytes never change once written, and its block's count is atomic.
unsafe impl Send for Text {}
// SAFETY: as above; `&Text` only reads.
unsafe impl Sync for Text {}

impl Text {
    fn block(&self) -> NonNull<Block> {
        // SAFETY: a text points at its record, whose first two bytes hold the distance back
        // to its block's start, inside the same allocation.
        unsafe {
            let at = self.0.as_ptr();
            let back = u16::from_le_bytes([*at, *at.add(1)]) as usize;
            NonNull::new_unchecked(at.sub(back)).cast()
        }
    }

    pub fn as_str(&self) -> &str {
        // SAFETY: the record was written by `write`: its length, then that many bytes of a
        // `&str`; the block lives at least as long as `self`.
        unsafe {
            let at = self.0.as_ptr().add(2);
            let (len, bytes) = if *at < 255 {
                (*at as usize, at.add(1))
            } else {
                let mut len = [0u8; 4];
                std::ptr::copy_nonoverlapping(at.add(1), len.as_mut_ptr(), 4);
                (u32::from_le_bytes(len) as usize, at.add(5))
            };
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(bytes, len))
        }
    }

    /// Whether both are the same copy (not only equal).
    pub fn ptr_eq(a: &Text, b: &Text) -> bool {
        a.0 == b.0
    }

    /// `text` in a block of its own.
    fn alone(text: &str) -> Text {
        let block = new_block(HEADER + record_size(text.len()), 1);
        // SAFETY: the block was made for exactly this one record after its header.
        unsafe { write(block, HEADER, text) }
    }
}

/// Writes texts one after the other into shared blocks (see the module).
#[derive(Default)]
pub struct Packer {
    /// The block being filled (the packer holds it once) and the offset of its free space.
    block: Option<(NonNull<Block>, usize)>,
}

impl Packer {
    pub fn new() -> Packer {
        Packer::default()
    }

    /// `text` as a [`Text`] in the packer's current block (a new one when it is full).
    pub fn pack(&mut self, text: &str) -> Text {
        if text.len() > MAX_PACKED {
            return Text::alone(text);
        }
        let size = record_size(text.len());
        let (block, offset) = match self.block {
            Some((block, offset)) if offset + size <= BLOCK_SIZE => (block, offset),
            _ => {
                self.finish();
                (new_block(BLOCK_SIZE, 1), HEADER)
            }
        };
        // SAFETY: the packer holds the block, so it is live while the new text is counted.
        unsafe { hold(block) };
        // SAFETY: offset..offset + size is inside the block (checked above), past its header
        // and past every text written before; offset < BLOCK_SIZE < 65,536.
        let made = unsafe { write(block, offset, text) };
        self.block = Some((block, offset + size));
        made
    }

    /// Gives up the current block (it is freed once its texts are gone).
    fn finish(&mut self) {
        if let Some((block, _)) = self.block.take() {
            // SAFETY: the packer's own hold, given up once.
            unsafe { release(block) };
        }
    }
}

/// One copy of each distinct text, packed ([`Packer`]): what reading a grid under the sharing
/// guard and [`GridData::share_text`](super::model::GridData::share_text) both keep.
pub struct TextSet {
    held: std::collections::HashSet<Text>,
    packer: Packer,
}

impl TextSet {
    /// A set for about `capacity` distinct texts.
    pub fn with_capacity(capacity: usize) -> TextSet {
        TextSet { held: std::collections::HashSet::with_capacity(capacity), packer: Packer::new() }
    }

    /// The set's copy of `value`, packed and kept on first sight.
    pub fn share(&mut self, value: &str) -> Text {
        if let Some(kept) = self.held.get(value) {
            return kept.clone();
        }
        let text = self.packer.pack(value);
        self.held.insert(text.clone());
        text
    }
}

impl Drop for Packer {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Clone for Text {
    fn clone(&self) -> Text {
        // SAFETY: `self` holds the block, so it is live.
        unsafe { hold(self.block()) };
        Text(self.0)
    }
}

impl Drop for Text {
    fn drop(&mut self) {
        // SAFETY: the text's own hold, given up once.
        unsafe { release(self.block()) }
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Default for Text {
    fn default() -> Text {
        Text::alone("")
    }
}

impl From<&str> for Text {
    fn from(text: &str) -> Text {
        Text::alone(text)
    }
}

impl From<&String> for Text {
    fn from(text: &String) -> Text {
        Text::alone(text)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text::alone(&text)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        text.as_str().to_owned()
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        Text::ptr_eq(self, other) || self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for Text {
    /// As the `str` (so a set of texts can be searched by `&str`).
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Reads a string as the [`Text`] its function makes of it.
pub(crate) struct TextVisitor(pub(crate) fn(&str) -> Text);

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: Error>(self, value: &str) -> Result<Text, E> {
        Ok((self.0)(value))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        deserializer.deserialize_str(TextVisitor(Text::alone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn holders(text: &Text) -> usize {
        // SAFETY: the text holds its block.
        unsafe { text.block().as_ref() }.holders.load(Ordering::Relaxed)
    }

    #[test]
    fn a_text_reads_back_what_was_written_at_every_length_and_in_every_block() {
        let mut packer = Packer::new();
        let samples: Vec<String> = (0..3000)
            .map(|i| match i % 5 {
                0 => String::new(),
                1 => format!("bus-{i}"),
                2 => "\u{e9}\u{1F50C}x".repeat(i % 97),
                3 => "y".repeat(254 + i % 3), // around the one-byte length's limit
                _ => "z".repeat(MAX_PACKED - 2 + i % 5), // around the packed limit
            })
            .collect();
        let packed: Vec<Text> = samples.iter().map(|s| packer.pack(s)).collect();
        let alone: Vec<Text> = samples.iter().map(|s| Text::from(s.as_str())).collect();
        drop(packer);
        for ((sample, p), a) in samples.iter().zip(&packed).zip(&alone) {
            assert_eq!(p.as_str(), sample);
            assert_eq!(a.as_str(), sample);
            assert_eq!(p, a);
        }
        // Thousands of texts of up to a kilobyte filled many blocks.
        let blocks: HashSet<_> = packed.iter().map(|t| t.block()).collect();
        assert!(blocks.len() > 20, "{} blocks", blocks.len());
        let long = "w".repeat(100_000);
        assert_eq!(Text::from(long.as_str()).as_str(), long);
        assert_eq!(Packer::new().pack(&long).as_str(), long);
        assert_eq!(size_of::<Option<Text>>(), size_of::<usize>());
    }

    #[test]
    fn a_block_is_held_by_its_texts_and_its_packer_and_freed_with_the_last() {
        let mut packer = Packer::new();
        let a = packer.pack("line-1");
        let b = packer.pack("Line 1");
        assert!(a.block() == b.block(), "short texts share a block");
        assert_eq!(holders(&a), 3, "two texts and the packer");
        let c = a.clone();
        assert!(Text::ptr_eq(&a, &c));
        assert_eq!(holders(&a), 4);
        drop(packer);
        drop(a);
        assert_eq!(holders(&b), 2);
        drop(c);
        assert_eq!(holders(&b), 1);
        assert_eq!(b, "Line 1", "the last text still reads its block");
        let alone = Text::from("bus-7");
        assert_eq!(holders(&alone), 1);
        assert!(alone.block() != b.block());
    }

    #[test]
    fn texts_compare_hash_and_print_as_their_strings() {
        let mut packer = Packer::new();
        let (b, a) = (packer.pack("b"), Text::from("a"));
        let mut sorted = [b.clone(), a.clone(), Text::default()];
        sorted.sort();
        assert_eq!(sorted.iter().map(Text::as_str).collect::<Vec<_>>(), ["", "a", "b"]);
        let set: HashSet<Text> = [a.clone(), b.clone(), Text::from("b")].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains("a") && !set.contains("c"));
        assert_eq!(format!("{a} {b:?}"), "a \"b\"");
        assert_eq!(serde_json::to_string(&b).unwrap(), "\"b\"");
        let read: Text = serde_json::from_str("\"caf\\u00e9\"").unwrap();
        assert_eq!(read, "caf\u{e9}");
        assert!(serde_json::from_str::<Text>("1").is_err());
        assert_eq!(String::from(read), "caf\u{e9}");
    }

    #[test]
    fn texts_of_one_block_are_cloned_and_dropped_on_many_threads_at_once() {
        let mut packer = Packer::new();
        let texts: Vec<Text> = (0..2000).map(|i| packer.pack(&format!("asset-{i}"))).collect();
        drop(packer);
        let first = texts[0].clone();
        std::thread::scope(|scope| {
            for t in 0..4 {
                let texts = texts.clone();
                scope.spawn(move || {
                    for round in 0..200 {
                        let copies: Vec<Text> =
                            texts.iter().skip((t + round) % 7).step_by(3).cloned().collect();
                        for copy in &copies {
                            assert!(copy.starts_with("asset-"));
                        }
                    }
                });
            }
        });
        drop(texts);
        assert_eq!(holders(&first), 1, "every clone made on the threads was given back");
        assert_eq!(first, "asset-0");
    }
}
