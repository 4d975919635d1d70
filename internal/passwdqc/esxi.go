package passwdqc

// CheckESXi checks password the way an ESXi host does for a local account:
// policy is the host's Security.PasswordQualityControl (read with
// ParseESXi), user the account id, gecos its description, and the home
// directory "/" (ESXi's /etc/passwd gives local users "/"). It returns ""
// when the password is acceptable, else passwdqc's reason; err is for a
// policy that cannot be parsed.
func CheckESXi(policy, user, gecos, password string) (reason string, err error) {
	p, err := ParseESXi(policy)
	if err != nil {
		return "", err
	}
	return p.Check(password, &Account{User: user, Gecos: gecos, Home: "/"}), nil
}
