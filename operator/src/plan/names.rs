//! Kubernetes names from people's names. Member communes are written with accents and
//! ligatures ("Sallebœuf", "Fargues-Saint-Hilaire"); object and share names must be DNS-1123
//! labels. We transliterate Latin letters rather than reject, because every French commune
//! name has an obvious ASCII spelling, and refuse only names with no Latin letter at all.

use crate::api::patterns::MAX_MEMBER_NAME;

/// Derives a DNS-1123 label from a display name: lower case, Latin accents and ligatures
/// transliterated (œ → oe, ß → ss), any other run of characters becomes one `-`, trimmed,
/// cut to [`MAX_MEMBER_NAME`]. `None` when nothing usable remains.
pub fn derive_name(display_name: &str) -> Option<String> {
    let mut out = String::with_capacity(display_name.len());
    let mut pending_dash = false;
    for c in display_name.chars().flat_map(char::to_lowercase) {
        let piece = transliterate(c);
        match piece {
            Some(p) => {
                if pending_dash && !out.is_empty() {
                    out.push('-');
                }
                pending_dash = false;
                out.push_str(p);
            }
            None => pending_dash = true,
        }
    }
    if out.len() > MAX_MEMBER_NAME {
        out.truncate(MAX_MEMBER_NAME);
        while out.ends_with('-') {
            out.pop();
        }
    }
    (!out.is_empty()).then_some(out)
}

fn transliterate(c: char) -> Option<&'static str> {
    const ASCII: [&str; 36] = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
    ];
    Some(match c {
        'a'..='z' => ASCII[(c as u8 - b'a') as usize],
        '0'..='9' => ASCII[26 + (c as u8 - b'0') as usize],
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
        'æ' => "ae",
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
        'ĥ' | 'ħ' => "h",
        'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
        'ĳ' => "ij",
        'ĵ' => "j",
        'ķ' => "k",
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
        'ñ' | 'ń' | 'ņ' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
        'œ' => "oe",
        'ŕ' | 'ŗ' | 'ř' => "r",
        'ś' | 'ŝ' | 'ş' | 'š' => "s",
        'ß' => "ss",
        'ţ' | 'ť' | 'ŧ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
        'ŵ' => "w",
        'ý' | 'ÿ' | 'ŷ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_commune_names_become_labels() {
        assert_eq!(derive_name("Sallebœuf").as_deref(), Some("salleboeuf"));
        assert_eq!(
            derive_name("Fargues-Saint-Hilaire").as_deref(),
            Some("fargues-saint-hilaire")
        );
        assert_eq!(
            derive_name("Carignan de Bordeaux").as_deref(),
            Some("carignan-de-bordeaux")
        );
        assert_eq!(
            derive_name("  L'Île-d'Yeu ").as_deref(),
            Some("l-ile-d-yeu")
        );
        assert_eq!(derive_name("ÉCOLE  ÆSOP").as_deref(), Some("ecole-aesop"));
    }

    #[test]
    fn nothing_latin_gives_none_and_long_names_are_cut_cleanly() {
        assert_eq!(derive_name("東京"), None);
        assert_eq!(derive_name("--"), None);
        let long = derive_name(&"Saint-".repeat(20)).unwrap();
        assert!(
            long.len() <= MAX_MEMBER_NAME
                && long.bytes().all(|c| c.is_ascii_lowercase() || c == b'-')
                && !long.starts_with('-')
                && !long.ends_with('-'),
            "{long}"
        );
    }
}
