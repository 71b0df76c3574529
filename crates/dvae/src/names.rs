//! The one convention by which the library's enums parse from text (flags, config values):
//! `FromStr` with [`Error::Config`](crate::error::Error) naming the field, every accepted
//! name and what was given.

/// `impl FromStr` (and `name()`) for a fieldless enum from its kebab-case names, as serde
/// writes them.
macro_rules! kebab_from_str {
    ($ty:ty, $field:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// The name on the command line and in `config.json`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::error::Error;
            fn from_str(s: &str) -> $crate::error::Result<Self> {
                match s {
                    $($name => Ok(Self::$variant),)+
                    other => Err($crate::error::Error::config(
                        $field,
                        format!(
                            "expected {}, got {other:?}",
                            [$($name),+].join(" or ")
                        ),
                    )),
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

pub(crate) use kebab_from_str;
