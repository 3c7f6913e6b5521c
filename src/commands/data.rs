//! `backup`: a consistent copy of the database, checked before it is reported done.

use std::path::Path;

use crate::config::load::Config;
use crate::store;

pub(super) fn backup(config: &Config, dest: &Path) -> anyhow::Result<i32> {
    if dest.exists() {
        anyhow::bail!("{} already exists; choose a new file name", dest.display());
    }
    let store = store::open_existing(&config.store.path)?;
    let progress = crate::progress::Progress::bar("backing up", 0, "pages");
    store.backup_with_progress(dest, &mut |done, total| {
        progress.set_total(total);
        progress.set(done);
    })?;
    progress.finish();
    let mentions = store::open_existing(dest)?.count_mentions(None)?;
    println!(
        "backed up {} to {} ({mentions} mentions, integrity ok)",
        config.store.path.display(),
        dest.display()
    );
    Ok(0)
}
