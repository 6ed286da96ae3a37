//! Settings spelled as fixed words (`off`, `standard`, `strict`…), parsed
//! and refused the same way everywhere: CLI flags, config files, queries.

/// The error for `got`, which is none of `words`: "`what` must be a, b or
/// c, not 'got'".
pub fn not_one_of(what: &str, words: &[&str], got: &str) -> String {
    let list = match words {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    format!("{what} must be {list}, not '{got}'")
}

/// Implements `FromStr` for an enum spelled as fixed words. The error is
/// [`not_one_of`]'s text, or that text wrapped by a constructor of the
/// crate's own error type.
///
/// ```
/// #[derive(Debug, PartialEq)]
/// enum Size { Small, Large }
/// facekit_core::from_words!(Size, "size", { "small" => Small, "large" => Large });
/// assert_eq!("large".parse::<Size>(), Ok(Size::Large));
/// assert_eq!("huge".parse::<Size>().unwrap_err(), "size must be small or large, not 'huge'");
///
/// #[derive(Debug)]
/// struct Bad(String);
/// #[derive(Debug, PartialEq)]
/// enum Tone { Soft }
/// facekit_core::from_words!(Tone, "tone", Bad = Bad, { "soft" => Soft });
/// assert_eq!("loud".parse::<Tone>().unwrap_err().0, "tone must be soft, not 'loud'");
/// ```
#[macro_export]
macro_rules! from_words {
    ($ty:ty, $what:literal, { $($word:literal => $variant:ident),+ $(,)? }) => {
        $crate::from_words!($ty, $what, ::std::string::String = ::std::convert::identity, { $($word => $variant),+ });
    };
    ($ty:ty, $what:literal, $err:ty = $wrap:expr, { $($word:literal => $variant:ident),+ $(,)? }) => {
        impl ::std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> ::std::result::Result<Self, $err> {
                match s {
                    $($word => Ok(Self::$variant),)+
                    other => Err($wrap($crate::not_one_of($what, &[$($word),+], other))),
                }
            }
        }
    };
}
