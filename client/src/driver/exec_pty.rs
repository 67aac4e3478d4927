//! Running a command inside a raw_exec task (issue F): with pipes, or under
//! a pseudo terminal. Stub until the exec helper lands.
