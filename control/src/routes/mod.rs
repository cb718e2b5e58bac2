//! HTTP routes: the pages and their assets ([`pages`]) and loopback-only diagnostics ([`debug`]).

pub mod debug;
pub mod pages;
