//! Exact keyword matches from the tokens of the search keys, without reading any document's text.
//!
//! A token is a longest run of bytes that are ASCII letters, ASCII digits or parts of non-ASCII characters. A keyword
//! made only of such bytes can only occur inside one token of a field, never across a space or a punctuation mark, so
//! the documents whose field contains it are exactly those that have a token containing it. Distinct tokens are far
//! fewer than documents: a trigram index over the tokens finds the ones that contain the keyword, and the union of
//! their document bitmaps is the exact match set, for the count and for every rank tier.

use std::collections::HashMap;

use memchr::memmem::Finder;
use roaring::{MultiOps, RoaringBitmap};

use super::index::{for_each_gram, intersect_grams};
use crate::db::score;

type DocNo = u32;

/// Documents by one token.
#[derive(Default)]
struct TokenDocs {
    /// Documents whose filename contains the token.
    in_filename: RoaringBitmap,
    /// Documents whose filename starts with the token.
    first_in_filename: RoaringBitmap,
    /// Documents whose whole filename is the token.
    whole_filename: RoaringBitmap,
    /// Documents whose alt, notes or credits contain the token.
    in_others: RoaringBitmap,
}

/// Every distinct token of the search keys and the documents that contain it.
#[derive(Default)]
pub(super) struct Tokens {
    numbers: HashMap<Box<[u8]>, u32>,
    texts: Vec<Box<[u8]>>,
    docs: Vec<TokenDocs>,
    /// Token numbers by byte trigram.
    grams: HashMap<u32, RoaringBitmap>,
}

impl Tokens {
    /// Records the tokens of a document's folded filename, alt, notes and credits.
    pub(super) fn add(&mut self, number: DocNo, fields: [&[u8]; 4]) {
        let [filename, others @ ..] = fields;
        for_each_token(filename, |start, token| {
            let docs = self.docs_of(token);
            docs.in_filename.insert(number);
            if start == 0 {
                docs.first_in_filename.insert(number);
                if token.len() == filename.len() {
                    docs.whole_filename.insert(number);
                }
            }
        });
        for field in others {
            for_each_token(field, |_, token| {
                self.docs_of(token).in_others.insert(number);
            });
        }
    }

    /// Removes a document that [`Tokens::add`] recorded with the same fields.
    pub(super) fn remove(&mut self, number: DocNo, fields: [&[u8]; 4]) {
        let [filename, others @ ..] = fields;
        for_each_token(filename, |_, token| {
            if let Some(docs) = self.existing_docs_of(token) {
                docs.in_filename.remove(number);
                docs.first_in_filename.remove(number);
                docs.whole_filename.remove(number);
            }
        });
        for field in others {
            for_each_token(field, |_, token| {
                if let Some(docs) = self.existing_docs_of(token) {
                    docs.in_others.remove(number);
                }
            });
        }
    }

    /// Returns the documents that match `keyword`, one bitmap per score (`score::FILENAME_EQUAL` first). Returns
    /// `None` when the keyword is shorter than a trigram or contains a byte that is not a token byte, because such a
    /// keyword can match across tokens and is checked against the texts instead.
    pub(super) fn tiers(&self, keyword: &[u8]) -> Option<[RoaringBitmap; 4]> {
        if keyword.len() < 3 || !keyword.iter().all(|&byte| is_token_byte(byte)) {
            return None;
        }
        let finder = Finder::new(keyword);
        let matching: Vec<(&[u8], &TokenDocs)> = intersect_grams(&self.grams, keyword)
            .iter()
            .map(|token| (&*self.texts[token as usize], &self.docs[token as usize]))
            .filter(|(text, _)| finder.find(text).is_some())
            .collect();

        let equal = match self.numbers.get(keyword) {
            Some(&token) => self.docs[token as usize].whole_filename.clone(),
            None => RoaringBitmap::new(),
        };
        let prefix = matching
            .iter()
            .filter(|(text, _)| text.starts_with(keyword))
            .map(|(_, docs)| &docs.first_in_filename)
            .union();
        let in_filename = matching.iter().map(|(_, docs)| &docs.in_filename).union();
        let in_others = matching.iter().map(|(_, docs)| &docs.in_others).union();

        // A whole filename is also its first token, and a first token is also in the filename.
        let mut tiers: [RoaringBitmap; 4] = Default::default();
        tiers[score::FILENAME_PREFIX as usize] = &prefix - &equal;
        tiers[score::FILENAME_CONTAINS as usize] = &in_filename - &prefix;
        tiers[score::OTHER_FIELD as usize] = in_others - &in_filename;
        tiers[score::FILENAME_EQUAL as usize] = equal;
        Some(tiers)
    }

    fn docs_of(&mut self, token: &[u8]) -> &mut TokenDocs {
        let number = match self.numbers.get(token) {
            Some(&number) => number,
            None => {
                let number = self.texts.len() as u32;
                for_each_gram(token, |gram| {
                    self.grams.entry(gram).or_default().insert(number);
                });
                self.numbers.insert(token.into(), number);
                self.texts.push(token.into());
                self.docs.push(TokenDocs::default());
                number
            }
        };
        &mut self.docs[number as usize]
    }

    fn existing_docs_of(&mut self, token: &[u8]) -> Option<&mut TokenDocs> {
        let &number = self.numbers.get(token)?;
        Some(&mut self.docs[number as usize])
    }
}

/// Returns whether `byte` belongs in a token: an ASCII letter or digit, or any byte of a non-ASCII UTF-8 character.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || !byte.is_ascii()
}

/// Calls `f` with the byte offset and the bytes of each token of `text`.
fn for_each_token(text: &[u8], mut f: impl FnMut(usize, &[u8])) {
    let mut start = None;
    for (offset, &byte) in text.iter().enumerate() {
        match (start, is_token_byte(byte)) {
            (None, true) => start = Some(offset),
            (Some(from), false) => {
                f(from, &text[from..offset]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(from) = start {
        f(from, &text[from..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens_of(text: &str) -> Vec<(usize, String)> {
        let mut found = Vec::new();
        for_each_token(text.as_bytes(), |start, token| {
            found.push((start, String::from_utf8(token.to_vec()).unwrap()))
        });
        found
    }

    #[test]
    fn tokens_split_at_ascii_punctuation_and_spaces_only() {
        assert_eq!(
            tokens_of("img_4821.jpg"),
            [(0, "img".into()), (4, "4821".into()), (9, "jpg".into())]
        );
        assert_eq!(
            tokens_of("  café-straße "),
            [(2, "café".into()), (8, "straße".into())]
        );
        assert_eq!(tokens_of("-"), []);
        assert_eq!(tokens_of(""), []);
    }

    #[test]
    fn tiers_rank_each_document_once() {
        let mut tokens = Tokens::default();
        let documents: [[&str; 4]; 5] = [
            ["logo", "", "", ""],
            ["logo-final.png", "", "", ""],
            ["my-logos.png", "", "", ""],
            ["banner.png", "the logo", "", ""],
            ["banner.png", "", "", "catalogo"],
        ];
        for (number, fields) in documents.iter().enumerate() {
            tokens.add(number as DocNo, fields.map(str::as_bytes));
        }

        let tiers = tokens.tiers(b"logo").expect("a keyword of token bytes");
        let numbers: Vec<Vec<u32>> = tiers.iter().map(|tier| tier.iter().collect()).collect();
        assert_eq!(numbers, [vec![0], vec![1], vec![2], vec![3, 4]]);

        tokens.remove(1, documents[1].map(str::as_bytes));
        let tiers = tokens.tiers(b"logo").unwrap();
        assert!(tiers[score::FILENAME_PREFIX as usize].is_empty());
        assert_eq!(tokens.tiers(b"go-"), None, "a keyword with a separator");
        assert_eq!(
            tokens.tiers(b"go"),
            None,
            "a keyword shorter than a trigram"
        );
    }
}
