//! Text from HTML fragments in catalogs: tags dropped, entities decoded (every named and numeric
//! reference, by `html-escape`), whitespace collapsed.

/// Drop tags, then decode entities (`&amp;`, `&#39;`, `&#x27;`, `&eacute;`, …), then collapse
/// whitespace. Decoding after the tags are gone keeps `&lt;b&gt;` as the text `<b>`.
pub fn clean_html(s: &str) -> String {
    html_escape::decode_html_entities(&strip_tags(s)).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Replace each tag (`<` followed by a letter, `/` or `!`, up to `>`) with a space; a lone `<`
/// (as in `a < b`) is text.
fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for (i, c) in s.char_indices() {
        match c {
            '<' if s[i..].chars().nth(1).is_some_and(|n| n.is_ascii_alphabetic() || n == '/' || n == '!') => {
                in_tag = true
            }
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if in_tag => {}
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_html_leaves_plain_text_alone() {
        assert_eq!(clean_html("a < b & c > d"), "a < b & c > d");
        assert_eq!(clean_html("x &#x263A; y &bogus; z"), "x ☺ y &bogus; z");
    }

    #[test]
    fn every_named_entity_decodes_and_escaped_tags_stay_text() {
        assert_eq!(clean_html("Caf&eacute; &ndash; cr&egrave;me&nbsp;br&ucirc;l&eacute;e"), "Café – crème brûlée");
        assert_eq!(clean_html("<p>Tom &amp; Jerry&#39;s</p><br/>&lt;b&gt;bold&lt;/b&gt;"), "Tom & Jerry's <b>bold</b>");
    }
}
