//! Structs read from query rows by column name: [`row_struct!`] declares the struct and its
//! `from_row`, so a query names its columns once (as the fields, or with `AS field`) and no
//! read depends on the order of a `SELECT` list.

/// Declares a struct as written, plus `COLUMNS` (its field names, comma-separated, for a
/// `SELECT` over a table whose columns have those names) and `from_row`, which reads every
/// field from the column of the same name.
macro_rules! row_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field: $ty ),*
        }

        impl $name {
            /// The field names, comma-separated, in the order they are declared.
            #[allow(dead_code)]
            pub(crate) const COLUMNS: &'static str =
                $crate::store::row::join!($(stringify!($field)),*);

            /// Reads a row that has a column named after every field.
            pub(crate) fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(Self { $( $field: r.get(stringify!($field))? ),* })
            }
        }
    };
}

/// Joins string literals with ", " at compile time.
macro_rules! join {
    ($first:expr $(, $rest:expr)*) => { concat!($first $(, ", ", $rest)*) };
}

pub(crate) use join;
pub(crate) use row_struct;

#[cfg(test)]
mod tests {
    row_struct! {
        /// A row for the test.
        #[derive(Debug, PartialEq)]
        struct Pair {
            /// The name.
            name: String,
            count: i64,
        }
    }

    #[test]
    fn fields_are_read_by_column_name_whatever_the_select_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        assert_eq!(Pair::COLUMNS, "name, count");
        let pair = conn
            .query_row("SELECT 3 AS count, 'x' AS name", [], Pair::from_row)
            .unwrap();
        assert_eq!(
            pair,
            Pair {
                name: "x".into(),
                count: 3
            }
        );
        let missing = conn.query_row("SELECT 'x' AS name", [], Pair::from_row);
        assert!(matches!(missing, Err(rusqlite::Error::InvalidColumnName(c)) if c == "count"));
    }
}
