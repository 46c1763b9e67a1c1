//! The text each product is embedded and searched by: the catalog's own fields, or, for a product
//! with neither title nor description, a template of the fields present (which the product-text
//! stage may replace with a chat model's sentence).

use super::catalog::Product;
use serde::{Deserialize, Serialize};

/// Where a product's text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextSource {
    /// The catalog's own title and/or description.
    #[default]
    Catalog,
    /// Built from the fields present.
    Template,
    /// Written by the chat-completions model.
    Generated,
}

/// The templated text: what the fields say, nothing invented.
pub fn template_text(p: &Product) -> String {
    let mut t = format!("Product {}", p.id);
    if !p.categories.is_empty() {
        t.push_str(" in ");
        t.push_str(&p.categories.join(", "));
    }
    if !p.brand.is_empty() {
        t.push_str(" by ");
        t.push_str(&p.brand);
    }
    if let Some(price) = p.price {
        t.push_str(&format!(", priced {price:.2}"));
    }
    t
}

/// The text that represents a product to the embedder: title, categories, brand, description.
pub fn product_text(p: &Product) -> String {
    let mut t = if p.title.is_empty() { p.id.clone() } else { p.title.clone() };
    if !p.categories.is_empty() {
        t.push_str(": ");
        t.push_str(&p.categories.join(" "));
    }
    if !p.brand.is_empty() {
        t.push_str(". Brand: ");
        t.push_str(&p.brand);
    }
    if !p.description.is_empty() {
        t.push_str(". ");
        t.push_str(&p.description);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_uses_only_the_fields_present() {
        let p = Product { id: "B01".into(), ..Product::default() };
        assert_eq!(template_text(&p), "Product B01");
        let p = Product {
            id: "B02".into(),
            categories: vec!["Kitchen".into(), "Pans".into()],
            brand: "Acme".into(),
            price: Some(19.5),
            ..Product::default()
        };
        assert_eq!(template_text(&p), "Product B02 in Kitchen, Pans by Acme, priced 19.50");
    }
}
