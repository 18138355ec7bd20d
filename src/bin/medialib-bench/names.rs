//! Realistic asset names and text for seeding, built from a fixed word list.
//!
//! Words are drawn with a Zipf-like weight (the word at rank `r` has weight `1 / (r + 1)^0.8`), so a few words such
//! as `logo` or `banner` appear in many names and most words in few, as in a real media library.

use std::sync::LazyLock;

use rand::distributions::{Distribution, WeightedIndex};
use rand::Rng;

/// Words of asset names, most frequent first, separated by whitespace. All are lower-case ASCII, so their folded
/// form is the word itself.
const WORD_LIST: &str = "image photo logo banner hero header final product team background icon cover summer winter spring \
    autumn event blog post thumbnail portrait landscape office city night beach mountain forest river \
    lake ocean sunset sunrise street market coffee kitchen garden house interior exterior studio \
    workshop meeting conference launch campaign newsletter social instagram facebook twitter linkedin \
    youtube promo sale offer discount black white blue green red yellow orange purple gold silver dark \
    light mobile desktop tablet screen mockup wireframe draft review approved export print poster flyer \
    brochure catalog menu card invite wedding birthday party holiday travel trip tour hotel room pool \
    restaurant food dinner lunch breakfast cake bread salad pizza pasta burger drink wine beer juice \
    fruit apple lemon cherry flower rose tree leaf grass stone wood metal glass paper fabric leather \
    shoe shirt dress jacket hat bag watch ring necklace chair table sofa lamp desk bed door window wall \
    floor roof bridge tower castle church museum gallery library school campus student teacher class \
    lesson course guide tutorial demo video clip trailer intro outro interview podcast episode music \
    song track voice sound noise rain wind storm snow cloud sky star moon planet space rocket car bike \
    train plane boat ship harbor airport station road map chart graph report invoice contract policy \
    manual spec slide deck pitch budget plan roadmap timeline sketch drawing painting pattern texture \
    gradient frame border shadow avatar profile founder ceo staff customer client partner award trophy \
    medal game match player stadium field court dog cat bird horse fish bear fox wolf deer rabbit baby \
    family friends kids mom dad bride anniversary graduation christmas easter halloween new old vintage \
    retro modern classic minimal bold soft bright calm happy smile hands eyes";

/// The words of [`WORD_LIST`], in order.
pub static WORDS: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| WORD_LIST.split_whitespace().collect());

/// Shape of a generated filename.
enum Pattern {
    Words,
    Camera,
    Screenshot,
}

/// Draws asset names and texts.
pub struct NameGenerator {
    words: WeightedIndex<f64>,
}

/// An asset's kind, file extension, content type and dimensions.
pub struct FileKind {
    pub kind: &'static str,
    pub extension: &'static str,
    pub content_type: &'static str,
    pub has_dimensions: bool,
}

/// File kinds with their weight out of 100.
const FILE_KINDS: &[(u32, FileKind)] = &[
    (45, file_kind("image", "jpg", "image/jpeg", true)),
    (15, file_kind("image", "png", "image/png", true)),
    (6, file_kind("image", "webp", "image/webp", true)),
    (3, file_kind("image", "gif", "image/gif", true)),
    (3, file_kind("image", "svg", "image/svg+xml", true)),
    (8, file_kind("video", "mp4", "video/mp4", true)),
    (2, file_kind("video", "webm", "video/webm", true)),
    (4, file_kind("audio", "mp3", "audio/mpeg", false)),
    (1, file_kind("audio", "wav", "audio/wav", false)),
    (10, file_kind("document", "pdf", "application/pdf", false)),
    (3, file_kind("document", "zip", "application/zip", false)),
];

const fn file_kind(
    kind: &'static str,
    extension: &'static str,
    content_type: &'static str,
    has_dimensions: bool,
) -> FileKind {
    FileKind {
        kind,
        extension,
        content_type,
        has_dimensions,
    }
}

impl NameGenerator {
    pub fn new() -> Self {
        let weights = (0..WORDS.len()).map(|rank| 1.0 / ((rank + 1) as f64).powf(0.8));
        Self {
            words: WeightedIndex::new(weights).expect("the word weights are positive"),
        }
    }

    /// Draws a word with its Zipf-like weight.
    pub fn word(&self, rng: &mut impl Rng) -> &'static str {
        WORDS[self.words.sample(rng)]
    }

    /// Draws a file kind: mostly JPEG and PNG images, then documents, videos and audio.
    pub fn file_kind(&self, rng: &mut impl Rng) -> &'static FileKind {
        let total: u32 = FILE_KINDS.iter().map(|(weight, _)| weight).sum();
        let mut pick = rng.gen_range(0..total);
        for (weight, kind) in FILE_KINDS {
            if pick < *weight {
                return kind;
            }
            pick -= weight;
        }
        unreachable!("the pick is below the sum of the weights")
    }

    /// Draws a filename for a file of `kind`: 80% two to four words with a separator, a case style and sometimes a
    /// number or version, 15% camera names (`IMG_4821.JPG`), 5% screenshot names.
    pub fn filename(&self, rng: &mut impl Rng, kind: &FileKind) -> String {
        let pattern = match rng.gen_range(0..100) {
            0..80 => Pattern::Words,
            80..95 if kind.kind == "image" || kind.kind == "video" => Pattern::Camera,
            80..95 => Pattern::Words,
            _ => Pattern::Screenshot,
        };
        match pattern {
            Pattern::Words => self.words_filename(rng, kind),
            Pattern::Camera => {
                let prefix = ["IMG_", "DSC", "DSCF", "PXL_", "GOPR"][rng.gen_range(0..5)];
                let extension = if rng.gen_bool(0.5) {
                    kind.extension.to_uppercase()
                } else {
                    kind.extension.into()
                };
                format!("{prefix}{:04}.{extension}", rng.gen_range(0..10_000))
            }
            Pattern::Screenshot => format!(
                "Screenshot 20{:02}-{:02}-{:02} at {:02}.{:02}.{:02}.png",
                rng.gen_range(19..27),
                rng.gen_range(1..13),
                rng.gen_range(1..29),
                rng.gen_range(0..24),
                rng.gen_range(0..60),
                rng.gen_range(0..60)
            ),
        }
    }

    fn words_filename(&self, rng: &mut impl Rng, kind: &FileKind) -> String {
        let count = rng.gen_range(2..=4);
        let separator = ["-", "_", " "][rng.gen_range(0..3)];
        let title_case = rng.gen_bool(0.3);
        let mut parts: Vec<String> = (0..count)
            .map(|_| {
                let word = self.word(rng);
                if title_case {
                    let mut chars = word.chars();
                    let first = chars.next().expect("no word is empty").to_ascii_uppercase();
                    format!("{first}{}", chars.as_str())
                } else {
                    word.to_owned()
                }
            })
            .collect();
        match rng.gen_range(0..10) {
            0..3 => parts.push(rng.gen_range(1..1000).to_string()),
            3 => parts.push(format!("v{}", rng.gen_range(2..6))),
            _ => {}
        }
        format!("{}.{}", parts.join(separator), kind.extension)
    }

    /// Draws a sentence of `min..=max` words, for alt text and notes.
    pub fn sentence(&self, rng: &mut impl Rng, min: usize, max: usize) -> String {
        let count = rng.gen_range(min..=max);
        let words: Vec<&str> = (0..count).map(|_| self.word(rng)).collect();
        let mut sentence = words.join(" ");
        sentence[..1].make_ascii_uppercase();
        sentence
    }
}
