pub mod catalog;
pub mod engine;
pub mod service;
pub mod error;
pub mod time;
pub mod workload;
