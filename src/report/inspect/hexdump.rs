//! Placeholder: the coloured hex dump (offset, hex, ASCII, legend), used by
//! the tree view with `--hexdump`.

use std::io::{self, Write};

use crate::inspect::model::{Dissection, Frame};

/// Writes the frame's bytes, each coloured by the layer it belongs to.
pub fn write_hexdump(
    _out: &mut impl Write,
    _frame: &Frame,
    _dissection: &Dissection,
) -> io::Result<()> {
    Ok(())
}
