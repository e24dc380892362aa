//! Tests of the `bioguard` binary itself: start-up, configuration, shutdown, durability
//! under SIGKILL, the README walkthrough and the demo.

mod admin;
mod architecture;
mod audit;
mod backup;
mod calibrate;
mod claims;
mod connections;
mod demo;
mod durability;
mod fairness;
mod faults;
mod governance;
mod http;
mod logs;
mod migration;
mod multinode;
mod openbao;
mod pkcs11;
mod portal;
mod readme;
mod receipt;
mod retention;
mod rotation;
mod serve;
mod server;
mod synth;
mod tls;
mod transparency;
mod webdriver;
mod webhooks;
