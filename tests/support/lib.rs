//! The root package of the workspace exists for the end-to-end tests beside this file
//! (`tests/*.rs`), which run the built binaries piped together the way users run them. It has no
//! code of its own; shared test helpers live in `tools/testkit`.
