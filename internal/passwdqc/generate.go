package passwdqc

//go:generate go run ../../tools/passwdqc-wordlist -o wordlist_gen.go
