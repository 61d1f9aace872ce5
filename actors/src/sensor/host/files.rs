//! File integrity baseline for the host sensor: hashes of the watched trees, and what changed.
//!
//! Pure and synchronous: the actor owns the notifier and calls [`Baseline::recheck`] with the paths
//! it reports. Only regular files are hashed; symbolic links are never followed below a root (a
//! link would lead the scan out of the watched tree) and FIFOs, sockets and devices are never
//! opened (opening a FIFO blocks until a writer appears).

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::ops::Bound;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A file's identity at baseline time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecord {
    /// BLAKE3 hash of the content.
    pub hash: [u8; 32],
    /// Number of bytes hashed.
    pub len: u64,
}

/// What happened to a watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Modified,
    Deleted,
}

impl ChangeKind {
    /// The lowercase name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One difference between the baseline and the file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    pub kind: ChangeKind,
    /// Hash in the baseline; `None` for a created file.
    pub old_hash: Option<[u8; 32]>,
    /// Hash now; `None` for a deleted file.
    pub new_hash: Option<[u8; 32]>,
    /// The file lies under a read-only root, where any change is suspect.
    pub read_only: bool,
}

/// The known content of every regular file under the watched roots.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// Watched roots, none nested in another, so each path belongs to at most one.
    roots: Vec<PathBuf>,
    read_only: Vec<PathBuf>,
    files: BTreeMap<PathBuf, FileRecord>,
}

impl Baseline {
    /// Walks every watched root recursively (no symlink following), hashing regular files.
    ///
    /// Read-only roots are watched too, whether or not they are also listed in `watch`. A root
    /// that is itself a symbolic link is followed, since the operator named it. Unreadable files,
    /// unreadable directories and missing roots are skipped and reported in the returned list so
    /// the caller can log them; files that vanish during the walk are simply absent.
    pub fn scan(watch: &[PathBuf], read_only: &[PathBuf]) -> (Baseline, Vec<(PathBuf, io::Error)>) {
        let mut roots: Vec<PathBuf> = watch.iter().chain(read_only).cloned().collect();
        // Path order is component-wise, so a root sorts before the roots nested in it.
        roots.sort();
        let mut disjoint: Vec<PathBuf> = Vec::with_capacity(roots.len());
        for root in roots {
            if !disjoint.iter().any(|kept| root.starts_with(kept)) {
                disjoint.push(root);
            }
        }

        let mut obs = Observation::default();
        for root in &disjoint {
            match fs::metadata(root) {
                Ok(meta) if meta.is_dir() => walk(root, &mut obs),
                Ok(meta) if meta.is_file() => observe_file(root, true, &mut obs),
                // A FIFO, socket or device root holds no file content to protect.
                Ok(_) => {}
                Err(err) => obs.failed.push((root.clone(), err)),
            }
        }

        let baseline = Baseline {
            roots: disjoint,
            read_only: read_only.to_vec(),
            files: obs.files,
        };
        (baseline, obs.failed)
    }

    /// Re-examines one path after a file-system notification and returns its changes against the
    /// baseline, updating the baseline so that a repeated notification with no new content yields
    /// nothing.
    ///
    /// A directory path re-scans that subtree; a path that is gone (or no longer a regular file)
    /// deletes it and everything the baseline knew under it. A path under no watched root, or
    /// reached through a symbolic link below its root, yields nothing. Files that cannot be read
    /// are logged and keep their baseline entry: an unreadable file is not evidence of a change.
    /// Changes come sorted by path.
    pub fn recheck(&mut self, path: &Path) -> Vec<FileChange> {
        let Some(root) = self.roots.iter().find(|root| path.starts_with(root)) else {
            return Vec::new();
        };
        if through_link(root, path) {
            return Vec::new();
        }
        let is_root = path == root.as_path();
        let meta = if is_root {
            fs::metadata(path)
        } else {
            fs::symlink_metadata(path)
        };

        let mut obs = Observation::default();
        match meta {
            Ok(meta) if meta.is_dir() => walk(path, &mut obs),
            Ok(meta) if meta.is_file() => observe_file(path, is_root, &mut obs),
            // A link, FIFO, socket or device now stands here: no regular file remains.
            Ok(_) => {}
            Err(err) if is_gone(&err) => {}
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "Cannot examine watched path; keeping its baseline.");
                return Vec::new();
            }
        }
        for (failed, err) in &obs.failed {
            tracing::warn!(path = %failed.display(), error = %err, "Cannot read watched path; keeping its baseline.");
        }
        self.apply(path, obs)
    }

    /// Number of files in the baseline.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Whether `path` lies under a read-only root.
    pub fn is_read_only(&self, path: &Path) -> bool {
        self.read_only.iter().any(|root| path.starts_with(root))
    }

    /// Replaces the baseline at and under `path` with what was observed there.
    fn apply(&mut self, path: &Path, obs: Observation) -> Vec<FileChange> {
        // Component-wise order keeps everything under `path` contiguous from `path` on.
        let before: Vec<(PathBuf, FileRecord)> = self
            .files
            .range::<Path, _>((Bound::Included(path), Bound::Unbounded))
            .take_while(|(known, _)| known.starts_with(path))
            .map(|(known, record)| (known.clone(), *record))
            .collect();

        let mut changes = Vec::new();
        for (known, record) in before {
            let unreadable = obs
                .failed
                .iter()
                .any(|(failed, _)| known.starts_with(failed));
            if obs.files.contains_key(&known) || unreadable {
                continue;
            }
            self.files.remove(&known);
            changes.push(self.change(known, ChangeKind::Deleted, Some(record.hash), None));
        }
        for (seen, record) in obs.files {
            let (kind, old_hash) = match self.files.insert(seen.clone(), record) {
                None => (ChangeKind::Created, None),
                Some(old) if old != record => (ChangeKind::Modified, Some(old.hash)),
                Some(_) => continue,
            };
            changes.push(self.change(seen, kind, old_hash, Some(record.hash)));
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        changes
    }

    fn change(
        &self,
        path: PathBuf,
        kind: ChangeKind,
        old_hash: Option<[u8; 32]>,
        new_hash: Option<[u8; 32]>,
    ) -> FileChange {
        FileChange {
            read_only: self.is_read_only(&path),
            path,
            kind,
            old_hash,
            new_hash,
        }
    }
}

/// What a walk over part of the tree found.
#[derive(Default)]
struct Observation {
    files: BTreeMap<PathBuf, FileRecord>,
    /// Paths that could not be read: the baseline keeps what it knew at and under them.
    failed: Vec<(PathBuf, io::Error)>,
}

/// Hashes every regular file under `start`, depth first, without following links.
fn walk(start: &Path, obs: &mut Observation) {
    // An explicit stack rather than recursion: a deep tree must not overflow the actor's stack.
    let mut dirs = vec![start.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if is_gone(&err) => continue,
            Err(err) => {
                obs.failed.push((dir, err));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(err) => {
                    obs.failed.push((dir.clone(), err));
                    continue;
                }
            };
            let path = entry.path();
            // `DirEntry::file_type` does not follow links, so a link is neither dir nor file here.
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => dirs.push(path),
                Ok(kind) if kind.is_file() => observe_file(&path, false, obs),
                Ok(_) => {}
                Err(err) if is_gone(&err) => {}
                Err(err) => obs.failed.push((path, err)),
            }
        }
    }
}

fn observe_file(path: &Path, follow: bool, obs: &mut Observation) {
    match hash_file(path, follow) {
        Ok(Some(record)) => {
            obs.files.insert(path.to_path_buf(), record);
        }
        Ok(None) => {}
        Err(err) if is_gone(&err) => {}
        Err(err) => obs.failed.push((path.to_path_buf(), err)),
    }
}

/// Hashes a regular file by streaming it; `None` if the path no longer holds a regular file.
fn hash_file(path: &Path, follow: bool) -> io::Result<Option<FileRecord>> {
    // The path was a regular file when listed, but may have been swapped since. O_NONBLOCK keeps
    // open() from waiting for a writer should it now be a FIFO (reads of a regular file ignore
    // it); O_NOFOLLOW refuses a link swapped in below the root.
    let mut flags = libc::O_NONBLOCK;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(&file)?;
    Ok(Some(FileRecord {
        hash: *hasher.finalize().as_bytes(),
        len: hasher.count(),
    }))
}

/// Whether `path` is reached through a symbolic link strictly between `root` and itself.
fn through_link(root: &Path, path: &Path) -> bool {
    path.ancestors()
        .skip(1)
        .take_while(|dir| *dir != root && dir.starts_with(root))
        .any(|dir| fs::symlink_metadata(dir).is_ok_and(|meta| meta.file_type().is_symlink()))
}

/// Errors that mean the path simply is not there any more.
fn is_gone(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    fn hash(content: &[u8]) -> [u8; 32] {
        *blake3::hash(content).as_bytes()
    }

    fn write(path: &Path, content: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// A temporary root holding `a` and `sub/b`, and its scanned baseline.
    fn fixture() -> (tempfile::TempDir, PathBuf, Baseline) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        write(&root.join("a"), b"alpha");
        write(&root.join("sub/b"), b"beta");
        let (baseline, errors) = Baseline::scan(std::slice::from_ref(&root), &[]);
        assert!(errors.is_empty(), "{errors:?}");
        (dir, root, baseline)
    }

    #[test]
    fn change_kind_names() {
        for (kind, name) in [
            (ChangeKind::Created, "created"),
            (ChangeKind::Modified, "modified"),
            (ChangeKind::Deleted, "deleted"),
        ] {
            assert_eq!(kind.as_str(), name);
        }
    }

    #[test]
    fn scan_hashes_regular_files_recursively() {
        let (_dir, root, baseline) = fixture();
        assert_eq!(baseline.len(), 2);
        assert!(!baseline.is_empty());
        let a = baseline.files[&root.join("a")];
        assert_eq!(
            a,
            FileRecord {
                hash: hash(b"alpha"),
                len: 5
            }
        );
    }

    #[test]
    fn streamed_hash_of_a_large_file_matches_the_one_shot_hash() {
        let dir = tempfile::tempdir().unwrap();
        // Larger than any internal read buffer, so the hash spans many reads.
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        write(&dir.path().join("big"), &content);
        let (baseline, _) = Baseline::scan(&[dir.path().to_path_buf()], &[]);
        let record = baseline.files[&dir.path().join("big")];
        assert_eq!(
            record,
            FileRecord {
                hash: hash(&content),
                len: content.len() as u64
            }
        );
    }

    #[test]
    fn created_file_is_reported() {
        let (_dir, root, mut baseline) = fixture();
        let path = root.join("sub/new");
        write(&path, b"gamma");
        let changes = baseline.recheck(&path);
        assert_eq!(
            changes,
            [FileChange {
                path,
                kind: ChangeKind::Created,
                old_hash: None,
                new_hash: Some(hash(b"gamma")),
                read_only: false,
            }]
        );
        assert_eq!(baseline.len(), 3);
    }

    #[test]
    fn modified_file_is_reported_once() {
        let (_dir, root, mut baseline) = fixture();
        let path = root.join("a");
        write(&path, b"ALPHA");
        let changes = baseline.recheck(&path);
        assert_eq!(
            changes,
            [FileChange {
                path: path.clone(),
                kind: ChangeKind::Modified,
                old_hash: Some(hash(b"alpha")),
                new_hash: Some(hash(b"ALPHA")),
                read_only: false,
            }]
        );
        assert!(
            baseline.recheck(&path).is_empty(),
            "a repeated notification is not a new change"
        );
    }

    #[test]
    fn deleted_file_is_reported_once() {
        let (_dir, root, mut baseline) = fixture();
        let path = root.join("sub/b");
        fs::remove_file(&path).unwrap();
        let changes = baseline.recheck(&path);
        assert_eq!(
            changes,
            [FileChange {
                path: path.clone(),
                kind: ChangeKind::Deleted,
                old_hash: Some(hash(b"beta")),
                new_hash: None,
                read_only: false,
            }]
        );
        assert_eq!(baseline.len(), 1);
        assert!(baseline.recheck(&path).is_empty());
    }

    #[test]
    fn rewrite_with_same_content_is_no_change() {
        let (_dir, root, mut baseline) = fixture();
        let path = root.join("a");
        fs::write(&path, b"alpha").unwrap();
        let file = fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(std::time::SystemTime::now()).unwrap();
        assert!(baseline.recheck(&path).is_empty());
    }

    #[test]
    fn new_nested_directory_reports_every_file() {
        let (_dir, root, mut baseline) = fixture();
        let new = root.join("new");
        write(&new.join("deep/x"), b"x");
        write(&new.join("y"), b"y");
        let changes = baseline.recheck(&new);
        let got: Vec<_> = changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(
            got,
            [
                (new.join("deep/x"), ChangeKind::Created),
                (new.join("y"), ChangeKind::Created),
            ]
        );
        assert!(baseline.recheck(&new).is_empty());
    }

    #[test]
    fn removed_directory_reports_every_file_deleted() {
        let (_dir, root, mut baseline) = fixture();
        write(&root.join("sub/deep/c"), b"c");
        assert_eq!(baseline.recheck(&root.join("sub")).len(), 1);
        fs::remove_dir_all(root.join("sub")).unwrap();
        let changes = baseline.recheck(&root.join("sub"));
        let got: Vec<_> = changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(
            got,
            [
                (root.join("sub/b"), ChangeKind::Deleted),
                (root.join("sub/deep/c"), ChangeKind::Deleted),
            ]
        );
        assert_eq!(baseline.len(), 1);
    }

    #[test]
    fn recheck_of_a_root_reports_every_kind() {
        let (_dir, root, mut baseline) = fixture();
        write(&root.join("a"), b"changed");
        fs::remove_file(root.join("sub/b")).unwrap();
        write(&root.join("c"), b"c");
        let changes = baseline.recheck(&root);
        let got: Vec<_> = changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(
            got,
            [
                (root.join("a"), ChangeKind::Modified),
                (root.join("c"), ChangeKind::Created),
                (root.join("sub/b"), ChangeKind::Deleted),
            ]
        );
    }

    #[test]
    fn sibling_with_common_name_prefix_is_untouched() {
        let (_dir, root, mut baseline) = fixture();
        write(&root.join("sub2/z"), b"z");
        baseline.recheck(&root.join("sub2"));
        // `sub` must not be taken as covering `sub2` (string prefix, not path prefix).
        fs::remove_dir_all(root.join("sub")).unwrap();
        let changes = baseline.recheck(&root.join("sub"));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, root.join("sub/b"));
        assert!(baseline.files.contains_key(&root.join("sub2/z")));
    }

    #[test]
    fn read_only_roots_are_watched_and_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system");
        let apps = dir.path().join("apps");
        write(&system.join("lib.so"), b"lib");
        write(&apps.join("app"), b"app");
        let (mut baseline, errors) =
            Baseline::scan(std::slice::from_ref(&apps), std::slice::from_ref(&system));
        assert!(errors.is_empty());
        assert_eq!(baseline.len(), 2);
        assert!(baseline.is_read_only(&system.join("lib.so")));
        assert!(!baseline.is_read_only(&apps.join("app")));

        write(&system.join("lib.so"), b"evil");
        write(&apps.join("app"), b"update");
        let system_change = baseline.recheck(&system.join("lib.so"));
        let apps_change = baseline.recheck(&apps.join("app"));
        assert!(system_change[0].read_only);
        assert!(!apps_change[0].read_only);
    }

    #[test]
    fn nested_roots_are_scanned_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let system = root.join("system");
        write(&system.join("f"), b"f");
        write(&root.join("g"), b"g");
        let (mut baseline, errors) = Baseline::scan(
            &[root.clone(), system.clone()],
            std::slice::from_ref(&system),
        );
        assert!(errors.is_empty());
        assert_eq!(baseline.roots, std::slice::from_ref(&root));
        assert_eq!(baseline.len(), 2);
        fs::remove_file(system.join("f")).unwrap();
        let changes = baseline.recheck(&system.join("f"));
        assert_eq!(changes.len(), 1);
        assert!(changes[0].read_only);
    }

    #[test]
    fn path_outside_roots_is_ignored() {
        let (dir, _root, mut baseline) = fixture();
        let outside = dir.path().join("outside");
        write(&outside, b"o");
        assert!(baseline.recheck(&outside).is_empty());
        assert!(
            baseline.recheck(dir.path()).is_empty(),
            "a parent of a root is not watched"
        );
        assert_eq!(baseline.len(), 2);
    }

    #[test]
    fn missing_root_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let (baseline, errors) = Baseline::scan(std::slice::from_ref(&missing), &[]);
        assert!(baseline.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, missing);
        assert_eq!(errors[0].1.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn single_file_root_is_watched() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        write(&file, b"v1");
        let (mut baseline, _) = Baseline::scan(std::slice::from_ref(&file), &[]);
        assert_eq!(baseline.len(), 1);
        write(&file, b"v2");
        assert_eq!(baseline.recheck(&file)[0].kind, ChangeKind::Modified);
    }

    #[test]
    fn links_and_fifos_are_skipped_without_blocking() {
        let (dir, root, mut baseline) = fixture();
        let outside = dir.path().join("outside");
        write(&outside.join("secret"), b"s");
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();
        let fifo = root.join("fifo");
        let c_fifo = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c_fifo` is a valid NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);

        let (scanned, errors) = Baseline::scan(std::slice::from_ref(&root), &[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(scanned.len(), 2, "only `a` and `sub/b` are regular files");

        assert!(baseline.recheck(&root).is_empty());
        assert!(baseline.recheck(&fifo).is_empty());
        assert!(baseline.recheck(&root.join("dangling")).is_empty());
        assert!(baseline.recheck(&root.join("linkdir")).is_empty());
        assert!(
            baseline.recheck(&root.join("linkdir/secret")).is_empty(),
            "not followed below the root"
        );
        assert_eq!(baseline.len(), 2);
    }

    #[test]
    fn file_replaced_by_link_is_deleted() {
        let (_dir, root, mut baseline) = fixture();
        let path = root.join("a");
        fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(root.join("sub/b"), &path).unwrap();
        let changes = baseline.recheck(&path);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].kind, ChangeKind::Deleted);
    }

    #[test]
    fn file_replaced_by_directory_is_deleted_and_contents_created() {
        let (_dir, root, mut baseline) = fixture();
        let path = root.join("a");
        fs::remove_file(&path).unwrap();
        write(&path.join("inner"), b"i");
        let changes = baseline.recheck(&path);
        let got: Vec<_> = changes.iter().map(|c| (c.path.clone(), c.kind)).collect();
        assert_eq!(
            got,
            [
                (path.clone(), ChangeKind::Deleted),
                (path.join("inner"), ChangeKind::Created)
            ]
        );
    }
}
