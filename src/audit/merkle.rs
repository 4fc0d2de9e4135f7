//! RFC 6962 (RFC 9162 §2.1) Merkle trees: leaf and node hashes, tree
//! heads, inclusion and consistency proofs, and their verification. Proofs
//! are computed from the hashes of complete subtrees, which a [`Nodes`]
//! source supplies (the database, or a tree in memory).

use std::collections::HashMap;

use ring::digest::{Context, SHA256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

fn sha256(parts: &[&[u8]]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    sha256(&[&[0x00], data])
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256(&[&[0x01], left, right])
}

/// The root of the empty tree: SHA-256 of nothing.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// Where the hashes of complete subtrees come from: `node(level, index)` is
/// the subtree over leaves `[index << level, (index + 1) << level)`, level
/// 0 being the leaf hashes.
pub trait Nodes {
    fn node(&self, level: u32, index: u64) -> Option<Hash>;
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])`. Every left part of RFC 6962's recursion is a complete,
/// aligned subtree, so it is one node; the right edge is recomputed.
fn mth(nodes: &impl Nodes, lo: u64, hi: u64) -> Option<Hash> {
    let n = hi - lo;
    if n == 0 {
        return Some(empty_root());
    }
    if n.is_power_of_two() && lo % n == 0 {
        return nodes.node(n.trailing_zeros(), lo >> n.trailing_zeros());
    }
    let k = split(n);
    Some(node_hash(
        &mth(nodes, lo, lo + k)?,
        &mth(nodes, lo + k, hi)?,
    ))
}

/// The root of the tree of the first `size` leaves.
pub fn root(nodes: &impl Nodes, size: u64) -> Option<Hash> {
    mth(nodes, 0, size)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size`.
pub fn inclusion_proof(nodes: &impl Nodes, index: u64, size: u64) -> Option<Vec<Hash>> {
    if index >= size {
        return None;
    }
    let mut proof = Vec::new();
    path(nodes, index, 0, size, &mut proof)?;
    Some(proof)
}

fn path(nodes: &impl Nodes, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Option<()> {
    let n = hi - lo;
    if n == 1 {
        return Some(());
    }
    let k = split(n);
    if m < k {
        path(nodes, m, lo, lo + k, out)?;
        out.push(mth(nodes, lo + k, hi)?);
    } else {
        path(nodes, m - k, lo + k, hi, out)?;
        out.push(mth(nodes, lo, lo + k)?);
    }
    Some(())
}

/// The consistency proof from the tree of `old` leaves to that of `new`.
pub fn consistency_proof(nodes: &impl Nodes, old: u64, new: u64) -> Option<Vec<Hash>> {
    if old > new {
        return None;
    }
    let mut proof = Vec::new();
    if old > 0 && old < new {
        subproof(nodes, old, 0, new, true, &mut proof)?;
    }
    Some(proof)
}

fn subproof(
    nodes: &impl Nodes,
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Option<()> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(mth(nodes, lo, hi)?);
        }
        return Some(());
    }
    let k = split(n);
    if m <= k {
        subproof(nodes, m, lo, lo + k, whole, out)?;
        out.push(mth(nodes, lo + k, hi)?);
    } else {
        subproof(nodes, m - k, lo + k, hi, false, out)?;
        out.push(mth(nodes, lo, lo + k)?);
    }
    Some(())
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of `new`
/// leaves with root `new_root` extends the tree of `old` with `old_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    proof: &[Hash],
    old_root: &Hash,
    new_root: &Hash,
) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && fr == *old_root && sr == *new_root
}

/// The complete subtrees that appending leaves `size..` completes, given a
/// way to look up those already there: `(level, index, hash)` for every
/// level above 0.
pub fn completed_nodes(
    existing: &impl Nodes,
    size: u64,
    new_leaves: &[Hash],
) -> Option<Vec<(u32, u64, Hash)>> {
    let mut fresh: HashMap<(u32, u64), Hash> = HashMap::new();
    let mut out = Vec::new();
    for (offset, leaf) in new_leaves.iter().enumerate() {
        let index = size + offset as u64;
        fresh.insert((0, index), *leaf);
        let mut level = 0;
        let mut at = index;
        // A right child completes its parent.
        while at & 1 == 1 {
            let left = match fresh.get(&(level, at - 1)) {
                Some(h) => *h,
                None => existing.node(level, at - 1)?,
            };
            let right = fresh[&(level, at)];
            let parent = node_hash(&left, &right);
            level += 1;
            at >>= 1;
            fresh.insert((level, at), parent);
            out.push((level, at, parent));
        }
    }
    Some(out)
}

/// A tree held in memory: for tests, the offline verifier and witnesses.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len() % 2 == 0 {
            let row = &self.levels[level];
            let parent = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    pub fn root(&self, size: u64) -> Option<Hash> {
        root(self, size)
    }
}

impl Nodes for MemoryTree {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        self.levels
            .get(level as usize)?
            .get(index as usize)
            .copied()
    }
}

impl Nodes for HashMap<(u32, u64), Hash> {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        self.get(&(level, index)).copied()
    }
}

/// A [`Nodes`] that records which nodes a computation needs, answering a
/// placeholder, so a store can fetch them all at once and run it again.
#[derive(Debug, Default)]
pub struct Wanted(pub std::cell::RefCell<Vec<(u32, u64)>>);

impl Nodes for Wanted {
    fn node(&self, level: u32, index: u64) -> Option<Hash> {
        self.0.borrow_mut().push((level, index));
        Some([0u8; 32])
    }
}

pub fn hex(hash: &Hash) -> String {
    crate::pki::hex(hash)
}

pub fn parse_hex(text: &str) -> Option<Hash> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The certificate-transparency reference vectors (RFC 6962 test data).
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn bytes(hex_text: &str) -> Vec<u8> {
        (0..hex_text.len() / 2)
            .map(|i| u8::from_str_radix(&hex_text[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }

    fn tree() -> MemoryTree {
        let mut tree = MemoryTree::new();
        for leaf in LEAVES {
            tree.push(leaf_hash(&bytes(leaf)));
        }
        tree
    }

    fn hashes(list: &[&str]) -> Vec<Hash> {
        list.iter().map(|h| parse_hex(h).unwrap()).collect()
    }

    #[test]
    fn roots_match_the_reference_vectors() {
        let tree = tree();
        assert_eq!(
            hex(&tree.root(0).unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (n, want) in ROOTS.iter().enumerate() {
            assert_eq!(
                hex(&tree.root(n as u64 + 1).unwrap()),
                *want,
                "size {}",
                n + 1
            );
        }
    }

    #[test]
    fn proofs_match_the_reference_vectors() {
        let tree = tree();
        let inclusion = [
            (
                0,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                vec![
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (0, 1, vec![]),
        ];
        for (index, size, want) in inclusion {
            let proof = inclusion_proof(&tree, index, size).unwrap();
            assert_eq!(proof, hashes(&want), "inclusion {index} in {size}");
            let leaf = tree.node(0, index).unwrap();
            assert!(verify_inclusion(
                &leaf,
                index,
                size,
                &proof,
                &tree.root(size).unwrap()
            ));
        }
        let consistency = [
            (1, 1, vec![]),
            (
                1,
                8,
                vec![
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                vec![
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                vec![
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (old, new, want) in consistency {
            let proof = consistency_proof(&tree, old, new).unwrap();
            assert_eq!(proof, hashes(&want), "consistency {old} -> {new}");
        }
    }

    #[test]
    fn every_proof_verifies_and_a_wrong_one_does_not() {
        let mut tree = MemoryTree::new();
        for i in 0..70u32 {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        for size in 1..=70 {
            let root = tree.root(size).unwrap();
            for index in 0..size {
                let proof = inclusion_proof(&tree, index, size).unwrap();
                let leaf = tree.node(0, index).unwrap();
                assert!(
                    verify_inclusion(&leaf, index, size, &proof, &root),
                    "{index} in {size}"
                );
                assert!(!verify_inclusion(
                    &leaf_hash(b"other"),
                    index,
                    size,
                    &proof,
                    &root
                ));
                if size > 1 {
                    assert!(
                        !verify_inclusion(&leaf, (index + 1) % size, size, &proof, &root)
                            || proof.is_empty()
                    );
                }
            }
            for old in 0..=size {
                let proof = consistency_proof(&tree, old, size).unwrap();
                let old_root = tree.root(old).unwrap();
                assert!(
                    verify_consistency(old, size, &proof, &old_root, &root),
                    "{old} -> {size}"
                );
                if old > 0 && old < size {
                    assert!(!verify_consistency(
                        old,
                        size,
                        &proof,
                        &leaf_hash(b"forged"),
                        &root
                    ));
                    assert!(!verify_consistency(
                        old,
                        size,
                        &proof,
                        &old_root,
                        &leaf_hash(b"forged")
                    ));
                }
            }
        }
    }

    #[test]
    fn appending_in_batches_completes_the_same_nodes() {
        let mut whole = MemoryTree::new();
        let leaves: Vec<Hash> = (0..37u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for l in &leaves {
            whole.push(*l);
        }
        let mut stored: HashMap<(u32, u64), Hash> = HashMap::new();
        let mut size = 0u64;
        for batch in leaves.chunks(5) {
            for (level, index, hash) in completed_nodes(&stored, size, batch).unwrap() {
                stored.insert((level, index), hash);
            }
            for (i, l) in batch.iter().enumerate() {
                stored.insert((0, size + i as u64), *l);
            }
            size += batch.len() as u64;
            assert_eq!(root(&stored, size), whole.root(size));
        }
    }
}
