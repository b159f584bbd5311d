pub mod lockers;
