module github.com/instachat/instachat/client

go 1.23.0
